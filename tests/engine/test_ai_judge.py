"""The principle judge: log p(Yes) − log p(No), batched, equal to one plain forward."""

import math

import pytest
import torch

from training.engine.ai_judge import (
    PrincipleJudge,
    RewardJudge,
    answer_token_ids,
    judge_ids,
    judge_messages,
    principle_scores,
)
from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.reward import score_responses
from training.engine.tiny import untrained_reward_model

PRINCIPLES = "Be helpful.\nBe honest.\nDo no harm."
PROMPTS = [
    "Name a colour.",
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Tell me a fact about owls, please, a long one."},
    ],
    "What is two plus two?",
]
RESPONSES = ["Blue.", "Owls can turn their heads very far around.", "Four, I am quite sure of it."]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def judge(tiny_model_path):
    return PrincipleJudge(tiny_model_path)


def test_scores_are_finite_and_deterministic(judge):
    first = judge.scores(PRINCIPLES, PROMPTS, RESPONSES)
    again = judge.scores(PRINCIPLES, PROMPTS, RESPONSES)
    assert len(first) == 3
    assert all(math.isfinite(s) for s in first)
    assert first == again
    # different responses are told apart (a constant would rank nothing)
    assert len(set(first)) == 3


def test_batch_size_does_not_change_scores(judge):
    # rows of very different lengths, so the batched ones are padded
    one = judge.scores(PRINCIPLES, PROMPTS, RESPONSES, batch_size=1)
    three = judge.scores(PRINCIPLES, PROMPTS, RESPONSES, batch_size=3)
    assert three == pytest.approx(one, abs=1e-4)


def test_score_is_the_yes_no_margin_of_one_plain_forward(tiny_model_path, judge):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    rendered = tokenizer.apply_chat_template(
        judge_messages(PRINCIPLES, PROMPTS[1], RESPONSES[1]),
        tokenize=False,
        add_generation_prompt=True,
    )
    assert rendered.endswith("<|im_start|>assistant\n")
    assert "Do no harm." in rendered and "Owls can turn" in rendered
    ids = tokenizer(rendered, add_special_tokens=False).input_ids
    assert ids == judge_ids(tokenizer, PRINCIPLES, PROMPTS[1], RESPONSES[1], 10_000)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], dim=-1)
    yes = [tokenizer("Yes").input_ids[0], tokenizer(" Yes").input_ids[0]]
    no = [tokenizer("No").input_ids[0], tokenizer(" No").input_ids[0]]
    expected = math.log(sum(logp[i].exp().item() for i in set(yes))) - math.log(
        sum(logp[i].exp().item() for i in set(no))
    )
    got = judge.scores(PRINCIPLES, PROMPTS, RESPONSES, batch_size=3)[1]
    assert got == pytest.approx(expected, abs=1e-4)


def test_answer_tokens_cover_both_spellings(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    yes, no = answer_token_ids(tokenizer)
    assert len(yes) == 2 and len(no) == 2  # GPT-2 BPE: "Yes" and " Yes" are distinct tokens
    assert not set(yes) & set(no)


def test_long_inputs_keep_their_end(tiny_model_path, judge):
    tokenizer = load_tokenizer(tiny_model_path)
    full = judge_ids(tokenizer, PRINCIPLES, PROMPTS[0], "word " * 200, 10_000)
    cut = judge_ids(tokenizer, PRINCIPLES, PROMPTS[0], "word " * 200, 64)
    assert len(full) > 64 and cut == full[-64:]
    short = PrincipleJudge(tiny_model_path, max_length=64)
    assert math.isfinite(short.scores(PRINCIPLES, ["x"], ["word " * 200])[0])


def test_principle_scores_loads_and_scores(tiny_model_path, judge):
    scores = principle_scores(tiny_model_path, PRINCIPLES, PROMPTS, RESPONSES, batch_size=2)
    assert scores == pytest.approx(judge.scores(PRINCIPLES, PROMPTS, RESPONSES), abs=1e-4)
    # the principles are read: other principles, other scores
    other = principle_scores(tiny_model_path, "Always answer in French.", PROMPTS, RESPONSES)
    assert other != pytest.approx(scores, abs=1e-6)


def test_reward_judge_is_score_responses(tiny_model_path, tmp_path):
    rm = untrained_reward_model(tiny_model_path, tmp_path / "rm")
    judge = RewardJudge(rm)
    assert judge.scores(PROMPTS, RESPONSES) == pytest.approx(
        score_responses(rm, PROMPTS, RESPONSES), abs=1e-5
    )
