"""Reward model: layouts agree with the plain forward; training learns; resume; normalisation."""

import json

import pytest
import torch

from training.engine.base_model import load_tokenizer
from training.engine.data import turn_suffix
from training.engine.losses import kway_bradley_terry_loss_batched
from training.engine.reward import (
    RewardConfig,
    load_reward_model,
    pairwise_accuracy,
    score,
    train_reward,
)
from training.engine.reward_packing import build_batch, encode_ranking, forward_rewards
from training.engine.synthetic import (
    synthetic_demonstrations,
    synthetic_pairs,
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


MIXED_ROWS = [
    # K = 3 with a tie, responses of different lengths
    {
        "prompt": "Say hi.",
        "responses": ["hi there", "hello you good sir, how are you", "yo"],
        "ranks": [1, 2, 2],
    },
    # a TRL pair row with a multi-turn conversational prompt
    {
        "prompt": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3+3? Explain."},
        ],
        "chosen": "6, because three and three make six.",
        "rejected": "7",
    },
    # K = 5, the longest prompt
    {
        "prompt": "List five colours of the rainbow, one per line, and nothing else please.",
        "responses": ["red", "red\norange\nyellow", "blue green", "violet " * 6, "no"],
        "ranks": [3, 1, 2, 4, 5],
    },
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path):
    return load_tokenizer(tiny_model_path)


def test_packed_and_shared_prompt_equal_plain_forward(tiny_model_path, tokenizer):
    torch.manual_seed(0)
    model = load_reward_model(tiny_model_path)
    model.eval()
    encoded = [encode_ranking(tokenizer, row, max_length=256) for row in MIXED_ROWS]
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        padded = forward_rewards(model, build_batch(encoded, "padded", pad))
        packed = forward_rewards(model, build_batch(encoded, "packed", pad))
        shared = forward_rewards(model, build_batch(encoded, "shared", pad))
        # and transformers' own forward of each (prompt + response), one at a time, no padding:
        # what TRL or anyone loading the saved folder computes
        for b, e in enumerate(encoded):
            for k, resp in enumerate(e.response_ids):
                ids = torch.tensor([e.prompt_ids + resp])
                hf = model(input_ids=ids).logits[0, 0]
                assert hf.item() == pytest.approx(padded[b, k].item(), abs=1e-5)
    assert torch.allclose(packed, padded, atol=1e-5), (packed, padded)
    assert torch.allclose(shared, padded, atol=1e-5), (shared, padded)
    # the shared layout really is shorter: the prompt is in each row once
    assert (
        build_batch(encoded, "shared", pad).n_tokens < build_batch(encoded, "packed", pad).n_tokens
    )


def test_shared_prompt_gradients_equal_plain(tiny_model_path, tokenizer):
    encoded = [encode_ranking(tokenizer, row, max_length=256) for row in MIXED_ROWS]
    grads = {}
    for layout in ("padded", "shared"):
        torch.manual_seed(0)
        model = load_reward_model(tiny_model_path)
        batch = build_batch(encoded, layout, tokenizer.pad_token_id)
        loss, _ = kway_bradley_terry_loss_batched(
            forward_rewards(model, batch), batch.ranks, batch.mask
        )
        loss.backward()
        grads[layout] = {
            n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
        }
    assert grads["padded"].keys() == grads["shared"].keys()
    for name, g in grads["padded"].items():
        assert torch.allclose(g, grads["shared"][name], atol=1e-5), name


def test_truncation_keeps_every_sequence_within_max_length(tokenizer):
    row = {"prompt": "word " * 300, "responses": ["long " * 300, "short"], "ranks": [1, 2]}
    e = encode_ranking(tokenizer, row, max_length=64)
    assert all(len(e.prompt_ids) + len(r) <= 64 for r in e.response_ids)
    # a short response keeps its end: EOS and the template's end-of-turn tokens after it
    assert e.response_ids[1][-2:] == [tokenizer.eos_token_id] + turn_suffix(tokenizer)
    assert turn_suffix(tokenizer) == tokenizer("\n", add_special_tokens=False).input_ids


def rm_config(tiny_model_path, out, **kw):
    base = dict(
        model=str(tiny_model_path),
        output_dir=str(out),
        lr=1e-3,
        warmup_steps=3,
        rankings_per_batch=8,
        epochs=1,
        max_length=64,
        seed=0,
    )
    return RewardConfig(**(base | kw))


@pytest.mark.training
def test_kway_rm_learns_marker_rule_and_normalises(tiny_model_path, tmp_path):
    # 160 rankings of K = 4 with ties -> 20 optimizer steps, one epoch
    train = synthetic_rankings(160, 4, seed=0, ties=True)
    held_out = synthetic_rankings(40, 4, seed=1)
    demos = synthetic_demonstrations(40, seed=2)
    seen = []
    result = train_reward(
        rm_config(tiny_model_path, tmp_path / "rm"),
        train,
        held_out,
        demonstrations=demos,
        callback=lambda step, total, m: seen.append((step, total, m)),
    )
    assert result["steps"] == 20 and [s for s, _, _ in seen[:20]] == list(range(1, 21))
    assert seen[-1][2]["eval/accuracy"] >= 0.9
    assert result["metrics"]["eval/accuracy"] >= 0.9
    assert result["metrics"]["eval/margin"] > 0
    first, last = seen[0][2]["train/loss"], seen[19][2]["train/loss"]
    assert last < first

    out = tmp_path / "rm"
    # InstructGPT normalisation: the demonstrations' mean reward is 0 after the bias
    demo_scores = score(out, demos)
    assert abs(sum(demo_scores) / len(demo_scores)) < 1e-4
    # the rule, seen through score(): more markers -> higher reward
    s = score(
        out,
        [
            {"prompt": "Tell me about tea.", "completion": c}
            for c in ("it is", "it is great", "great it is great great")
        ],
    )
    assert s[0] < s[1] < s[2]
    # the folder loads as a plain AutoModelForSequenceClassification and scores a conversation
    # rendered by the chat template as we do: its raw logit is the score minus the stored bias
    from transformers import AutoModelForSequenceClassification

    bias = json.loads((out / "config.json").read_text())["reward_bias"]
    assert bias == pytest.approx(result["metrics"]["reward_bias"])
    hf = AutoModelForSequenceClassification.from_pretrained(out)
    tok = load_tokenizer(out)
    conversation = [
        {"role": "user", "content": "Tell me about tea."},
        {"role": "assistant", "content": "it is great"},
    ]
    ids = tok.apply_chat_template(conversation, return_tensors="pt", return_dict=True)
    raw = hf(input_ids=ids["input_ids"]).logits.item()
    assert raw + bias == pytest.approx(s[1], abs=1e-4)
    assert pairwise_accuracy(out, held_out)["eval/accuracy"] == pytest.approx(
        result["metrics"]["eval/accuracy"]
    )


@pytest.mark.training
def test_pair_rows_learn_too(tiny_model_path, tmp_path):
    # TRL pair rows (K = 2), unpacked plain padded layout this time
    result = train_reward(
        rm_config(
            tiny_model_path,
            tmp_path / "rm",
            packing=False,
            share_prompt=False,
            rankings_per_batch=16,
        ),
        synthetic_pairs(320, seed=0),
        synthetic_pairs(60, seed=1),
    )
    assert result["metrics"]["eval/accuracy"] >= 0.9


@pytest.mark.training
def test_resume_after_kill_finishes_without_redoing_steps(tiny_model_path, tmp_path):
    train = synthetic_rankings(48, 3, seed=3)  # 12 steps of 4 rankings
    kw = dict(rankings_per_batch=4, save_every=4)

    straight = Recorder()
    train_reward(rm_config(tiny_model_path, tmp_path / "a", **kw), train, callback=straight)

    first = Recorder(kill_at=6)  # a crash after step 6; the last save is at step 4
    config = rm_config(tiny_model_path, tmp_path / "b", **kw)
    with pytest.raises(Killed):
        train_reward(config, train, callback=first)
    second = Recorder()
    result = train_reward(config, train, callback=second)
    assert first.steps == [1, 2, 3, 4, 5, 6, 7]  # 7 reported, then the crash before its save
    # restarted from the step-4 state: steps 5..12 once each, none before
    assert second.resumed_at == [4] and second.steps == list(range(5, 13))
    assert result["steps"] == 12 and result["resumed_from_step"] == 4
    assert not (tmp_path / "b" / "state").exists()
    # and the resumed run follows the uninterrupted one (same data order, optimizer state)
    for a, b in zip(straight.metrics[4:], second.metrics, strict=True):
        assert a["train/loss"] == pytest.approx(b["train/loss"], rel=1e-4, abs=1e-5)


@pytest.mark.training
def test_state_is_saved_by_time_and_scoring_polls(tiny_model_path, tmp_path):
    train = synthetic_rankings(24, 3, seed=3)  # 6 steps of 4 rankings
    held_out = synthetic_rankings(8, 3, seed=4)
    # never by count; by time as soon as any has passed: every step
    config = rm_config(
        tiny_model_path,
        tmp_path,
        rankings_per_batch=4,
        save_every=0,
        save_every_minutes=1e-9,
        eval_batch_size=4,
    )
    with pytest.raises(Killed):
        train_reward(config, train, held_out, callback=Recorder(kill_at=3))
    again = Recorder()
    result = train_reward(config, train, held_out, callback=again)
    assert again.resumed_at == [3] and again.steps == [4, 5, 6, 6]  # + the final evaluation
    assert result["resumed_from_step"] == 3
    # polled before each scoring batch: the centring scores all 24 rankings (6 batches of 4),
    # the final evaluation the 8 held-out ones (2 batches)
    assert again.polls == 6 + 2

    # and a poll that raises cancels in the middle of the scoring
    cancelled = Recorder(kill_at_poll=1)
    with pytest.raises(Killed):
        train_reward(rm_config(tiny_model_path, tmp_path / "c"), train, callback=cancelled)
    assert cancelled.steps == list(range(1, 4))  # all 3 steps ran; the centring was cancelled


def test_lora_reward_model_trains_adapters_and_head_only(tiny_model_path):
    from training.engine.base_model import LoraSettings
    from training.engine.reward import load_reward_model

    model = load_reward_model(tiny_model_path, lora=LoraSettings(r=4, alpha=8))
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name or "score" in name for name in trainable)
    assert any("score" in name for name in trainable)  # the new head is trained in full
