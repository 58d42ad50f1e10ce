"""PPO on the tiny model: reward goes up, β restrains the drift, PPO-ptx keeps pretraining loss.

The fixture runs the real pipeline in small: SFT on demonstrations that use the marker word 0-2
times (so the policy can say it), a reward model trained on rankings where more markers = better,
then PPO from the SFT model against that reward model.
"""

import random
from pathlib import Path

import pytest
import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.data import encode_prompt, turn_suffix
from training.engine.losses import masked_cross_entropy
from training.engine.ppo import (
    PPOConfig,
    encode_pretrain,
    pretrain_batch,
    response_mask,
    train_ppo,
)
from training.engine.ppo_rollout import left_pad, reward_scores, with_turn_suffix
from training.engine.reward import (
    RewardConfig,
    load_reward_model,
    score_responses,
    train_reward,
)
from training.engine.sft import SFTConfig, train_sft
from training.engine.synthetic import (
    prompt_for,
    synthetic_demonstrations,
    synthetic_rankings,
)

from .helpers import Killed, Recorder


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model's ops are too small to split across threads: one thread is faster (and on
    a shared CPU two threads mostly spin-wait on each other; measured 30x slower there)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PRETRAIN = [
    "The committee approved the new budget after a long debate.",
    "Mountains in the north receive heavy snow every winter.",
    "She opened the window and listened to the rain.",
    "Engineers tested the bridge before it opened to traffic.",
]


def test_response_mask_stops_after_first_eos():
    eos = 7
    responses = torch.tensor([[1, 7, 3, 7], [1, 2, 3, 4], [7, 1, 1, 1]])
    assert response_mask(responses, [eos]).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_response_mask_stops_at_any_stop_id():
    # the model's own end id (8) ends a response as the tokenizer's eos (7) does
    responses = torch.tensor([[1, 8, 3, 7], [1, 2, 7, 8], [1, 2, 3, 4]])
    expected = [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert response_mask(responses, [8, 7]).tolist() == expected
    assert response_mask(responses, []).tolist() == [[1] * 4] * 3  # no stop id: all kept


def test_turn_suffix_goes_after_eos_of_stopped_responses_only():
    E, S = 9, 4
    ids = torch.tensor([[1, 2, E, 0], [1, 2, 3, 5]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ended = torch.tensor([True, False])
    ids, mask, last = with_turn_suffix(ids, mask, torch.tensor([2, 3]), ended, [S], pad_id=0)
    assert ids.tolist() == [[1, 2, E, S, 0], [1, 2, 3, 5, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 0]]
    assert last.tolist() == [3, 3]


def test_turn_suffix_follows_the_templates_eos_whatever_stopped_the_response():
    # row 0 stopped at the model's other end id (8): the reward model was trained on turns that
    # end with the template's eos (9), so that is what it reads; row 1 never ended
    E, S, OTHER = 9, 4, 8
    ids = torch.tensor([[1, 2, OTHER, 0], [1, 2, 3, 5]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ended = torch.tensor([True, False])
    out, mask, last = with_turn_suffix(
        ids, mask, torch.tensor([2, 3]), ended, [S], pad_id=0, eos_id=E
    )
    assert out.tolist() == [[1, 2, E, S, 0], [1, 2, 3, 5, 0]]
    assert last.tolist() == [3, 3]
    assert ids[0, 2] == OTHER  # the policy's own ids are left alone
    # no template suffix: the eos alone
    out, _, last = with_turn_suffix(ids, mask[:, :4], torch.tensor([2, 3]), ended, [], 0, E)
    assert out.tolist() == [[1, 2, E, 0], [1, 2, 3, 5]] and last.tolist() == [2, 3]


def test_rollout_scores_a_stopped_response_as_the_reward_model_scores_its_text(
    tiny_model_path, tmp_path
):
    # PPO reads the reward model on sampled ids; training and score() read it on rendered text.
    # The two must be the same input, or PPO optimises a reward the model was never trained on.
    tok = load_tokenizer(tiny_model_path)
    load_reward_model(tiny_model_path).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    rm = load_reward_model(tmp_path).eval()
    prompts = ["Tell me about tea.", "Tell me about snow and the rain in it."]
    texts = ["it is great", "the a of"]
    query, query_mask = left_pad(
        [encode_prompt(tok, [{"role": "user", "content": p}]) for p in prompts], tok.pad_token_id
    )
    width = 6
    responses = torch.full((2, width), tok.pad_token_id)
    lengths = []
    for i, text in enumerate(texts):
        r = tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id]
        responses[i, : len(r)] = torch.tensor(r)
        lengths.append(len(r))
    resp_mask = response_mask(responses, [tok.eos_token_id])
    ids, mask = torch.cat([query, responses], 1), torch.cat([query_mask, resp_mask], 1)
    last = query.size(1) + torch.tensor(lengths) - 1
    scores = reward_scores(
        rm, *with_turn_suffix(ids, mask, last, torch.tensor([True, True]), turn_suffix(tok), 0)
    )
    expected = score_responses(tmp_path, prompts, texts, device="cpu")
    assert scores.tolist() == pytest.approx(expected, abs=1e-4)


@pytest.fixture(scope="module")
def pipeline(tiny_model_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("ppo")
    train_sft(
        SFTConfig(
            model=str(tiny_model_path),
            output_dir=str(root / "sft"),
            learning_rate=1e-2,
            epochs=1,
            max_steps=40,
            batch_size=16,
            max_length=48,
            warmup_ratio=0.05,
        ),
        synthetic_demonstrations(640, seed=5, max_markers=2),
    )
    rm = train_reward(
        RewardConfig(
            model=str(tiny_model_path),
            output_dir=str(root / "rm"),
            lr=1e-3,
            warmup_steps=3,
            max_length=64,
        ),
        synthetic_rankings(160, 4, seed=0),
        synthetic_rankings(40, 4, seed=1),
    )
    assert rm["metrics"]["eval/accuracy"] >= 0.9
    rng = random.Random(0)
    return {
        "root": root,
        "sft": str(root / "sft"),
        "rm": str(root / "rm"),
        "prompts": [prompt_for(rng) for _ in range(64)],
    }


def ppo_config(pipeline, name, **kw):
    base = dict(
        policy=pipeline["sft"],
        reward_model=pipeline["rm"],
        output_dir=str(pipeline["root"] / name),
        steps=8,
        rollouts_per_step=16,
        mini_batch_size=8,
        ppo_epochs=4,
        response_length=8,
        lr=5e-4,
        kl_coef=0.1,
        seed=0,
    )
    return PPOConfig(**(base | kw))


def run(config, prompts, pretrain=None):
    history = []
    result = train_ppo(config, prompts, pretrain, callback=lambda s, t, m: history.append(m))
    return result, history


def mean(xs):
    return sum(xs) / len(xs)


@pytest.fixture(scope="module")
def with_kl(pipeline):
    return run(ppo_config(pipeline, "ppo_kl"), pipeline["prompts"])


@pytest.mark.training
def test_ppo_raises_reward_with_bounded_kl(with_kl):
    result, history = with_kl
    assert len(history) == 8
    for key in (
        "objective/kl",
        "objective/rlhf_reward",
        "objective/scores",
        "objective/entropy",
        "policy/clipfrac",
        "policy/approxkl",
        "val/value_loss",
        "response/mean_length",
    ):
        assert key in history[-1] and history[-1][key] == history[-1][key]  # present, not NaN
    before = mean([m["objective/scores"] for m in history[:2]])
    after = mean([m["objective/scores"] for m in history[-3:]])
    assert after > before + 0.5, (before, after)
    # β = 0.1 lets the policy move (~1 nat/token at most here) but not run away
    assert max(m["objective/kl"] for m in history) < 10.0
    # the saved policy is an ordinary causal LM folder
    assert load_causal_lm(result["output_dir"]) is not None


@pytest.mark.training
def test_kl_penalty_restrains_drift(pipeline):
    # β = 1 against β = 0 from the same start, same seeds: the penalty holds the policy near SFT
    _, penalised = run(ppo_config(pipeline, "ppo_beta1", kl_coef=1.0), pipeline["prompts"])
    _, free = run(ppo_config(pipeline, "ppo_free", kl_coef=0.0), pipeline["prompts"])
    kl_free = mean([m["objective/kl"] for m in free[-3:]])
    kl_penalised = mean([m["objective/kl"] for m in penalised[-3:]])
    assert kl_free > 2 * kl_penalised, (kl_free, kl_penalised)
    assert all(m["objective/rlhf_reward"] == m["objective/scores"] for m in free)  # β = 0


def pretrain_loss(model_dir, texts):
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir).eval()
    batch = pretrain_batch(encode_pretrain(tokenizer, texts, 64), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return masked_cross_entropy(logits, batch["labels"]).item()


@pytest.mark.training
def test_ptx_keeps_pretraining_loss_lower(pipeline, with_kl):
    result_plain, _ = with_kl
    result_ptx, history = run(
        ppo_config(pipeline, "ppo_ptx", ptx_coef=1.0, ptx_batch_size=4),
        pipeline["prompts"],
        PRETRAIN,
    )
    assert "ptx/loss" in history[-1]
    plain = pretrain_loss(result_plain["output_dir"], PRETRAIN)
    ptx = pretrain_loss(result_ptx["output_dir"], PRETRAIN)
    sft = pretrain_loss(pipeline["sft"], PRETRAIN)
    assert ptx < plain - 0.5, (sft, plain, ptx)
    assert ptx < sft


@pytest.mark.training
def test_ppo_resume_continues_the_interrupted_run(pipeline):
    # adaptive β, so a resume that forgot β would show; 4 steps, state saved after step 2
    kw = dict(steps=4, save_every=2, rollouts_per_step=8, ppo_epochs=1, adaptive_kl=True)
    kw |= dict(kl_target=0.5, kl_horizon=100)
    straight = Recorder()
    train_ppo(ppo_config(pipeline, "ppo_straight", **kw), pipeline["prompts"], callback=straight)

    config = ppo_config(pipeline, "ppo_resume", **kw)
    first = Recorder(kill_at=3)  # a crash right after step 3; the last save is at step 2
    with pytest.raises(Killed):
        train_ppo(config, pipeline["prompts"], callback=first)
    state = Path(config.output_dir) / "state"
    # step 4 was reported (a step is reported before its save) and then the run died
    assert first.steps == [1, 2, 3, 4] and first.resumed_at == []
    assert (state / "model" / "value" / "model.safetensors").exists()  # the value model too

    second = Recorder()
    result = train_ppo(config, pipeline["prompts"], callback=second)
    assert second.resumed_at == [2] and second.steps == [3, 4]
    assert result["steps"] == config.steps and result["resumed_from_step"] == 2
    assert not state.exists()
    # the resumed steps are the uninterrupted run's: same policy, value model, optimizer, β and
    # samples (each step's randomness depends on (seed, step) only)
    for a, b in zip(straight.metrics[2:], second.metrics, strict=True):
        a, b = dict(a), dict(b)
        a.pop("time/step_s"), b.pop("time/step_s")
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)


@pytest.mark.training
def test_ppo_encodes_prompts_as_generation_does(pipeline, monkeypatch):
    import training.engine.ppo as ppo

    # a tokenizer that wants a bos: PPO's prompts must start with it, as SFT's and generation's
    tokenizer = load_tokenizer(pipeline["sft"])
    tokenizer.add_bos_token = True
    monkeypatch.setattr(ppo, "load_tokenizer", lambda path: tokenizer)
    seen = []

    def first_rollout(config, prompts, *args):
        seen.append(prompts)
        raise Killed

    monkeypatch.setattr(ppo, "rollout", first_rollout)
    prompt = pipeline["prompts"][0]
    expected = encode_prompt(tokenizer, [{"role": "user", "content": prompt}])
    assert expected[0] == tokenizer.bos_token_id
    for max_prompt_length in (256, 5):  # a long prompt keeps its end
        with pytest.raises(Killed):
            config = ppo_config(pipeline, "ppo_prompts", max_prompt_length=max_prompt_length)
            train_ppo(config, [prompt])
        assert seen[-1] == [expected[-max_prompt_length:]] * config.rollouts_per_step
