import json
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.config import config_from_dict
from training.engine.data import tokenize_demonstration
from training.engine.losses import masked_cross_entropy
from training.engine.sft import (
    SFTConfig,
    collate,
    epoch_micro_batches,
    pack,
    response_loss,
    train_sft,
)

from .helpers import Killed, Recorder

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
ANIMALS = ["cat", "dog", "horse", "mouse", "bird", "fish", "cow", "sheep"]


def demonstrations(n, seed):
    """A learnable pattern: the answer repeats the two words of the question in a fixed frame."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        colour, animal = rng.choice(COLOURS), rng.choice(ANIMALS)
        rows.append(
            {
                "prompt": f"Describe a {colour} {animal}.",
                "completion": f"The {animal} is {colour}. A {colour} {animal} is nice.",
            }
        )
    return rows


def config(tiny_model_path, tmp_path, **overrides):
    base = dict(
        model=str(tiny_model_path),
        output_dir=str(tmp_path / "out"),
        learning_rate=1e-2,
        epochs=2,
        batch_size=8,
        max_length=64,
        warmup_ratio=0.1,
        seed=0,
    )
    return config_from_dict(SFTConfig, base | overrides)


def eval_loss_of(model_path, rows):
    tokenizer = load_tokenizer(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    batch = collate(
        [tokenize_demonstration(tokenizer, r, 64) for r in rows], tokenizer.pad_token_id
    )
    labels = batch.pop("labels")
    with torch.no_grad():
        return masked_cross_entropy(model(**batch).logits, labels).item()


@pytest.mark.training
def test_sft_lowers_validation_loss(tiny_model_path, tmp_path):
    train_rows, eval_rows = demonstrations(64, seed=1), demonstrations(16, seed=2)
    before = eval_loss_of(tiny_model_path, eval_rows)
    seen = []
    result = train_sft(
        config(tiny_model_path, tmp_path),
        train_rows,
        eval_rows,
        callback=lambda step, total, metrics: seen.append((step, total, metrics)),
    )
    out = tmp_path / "out"
    after = eval_loss_of(out, eval_rows)  # the saved folder loads with plain transformers
    assert after < 0.4 * before, (before, after)  # ~10.8 -> ~2.9
    assert result["eval/loss"] == pytest.approx(after, rel=1e-4)
    assert [s for s, _, _ in seen] == list(range(1, 17)) and seen[0][1] == 16  # 64/8 x 2 epochs
    assert all("train/loss" in m and "train/learning_rate" in m for _, _, m in seen)
    assert ["eval/loss" in m for _, _, m in seen].count(True) == 2  # once per epoch
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert not (out / "state").exists()
    assert json.loads((out / "train_results.json").read_text())["steps"] == 16


def test_loss_ignores_prompt_positions(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    rows = demonstrations(4, seed=3)
    examples = [tokenize_demonstration(tokenizer, r, 64) for r in rows]
    batch = collate(examples, tokenizer.pad_token_id)
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
    loss = masked_cross_entropy(logits, labels)

    # Logits at t predict token t+1: every position whose next token is prompt or padding is free.
    free = torch.zeros_like(labels, dtype=torch.bool)
    free[:, :-1] = labels[:, 1:] == -100
    noisy = logits.clone()
    noisy[free] = torch.randn_like(noisy[free]) * 10
    assert masked_cross_entropy(noisy, labels).item() == pytest.approx(loss.item(), abs=1e-6)

    # Different prompts, same responses: the prompt tokens carry no label, whatever they are.
    other = [
        tokenize_demonstration(tokenizer, r | {"prompt": "Something else entirely?"}, 64)
        for r in rows
    ]
    for a, b in zip(examples, other, strict=True):
        assert [x for x in a["labels"] if x != -100] == [x for x in b["labels"] if x != -100]

    # ...while a response position does count.
    target = (~free[0, :-1]).nonzero()[0].item()
    noisy = logits.clone()
    noisy[0, target] = torch.randn_like(noisy[0, target]) * 10
    assert masked_cross_entropy(noisy, labels).item() != pytest.approx(loss.item(), abs=1e-4)


def test_response_loss_skips_only_prompt_logits(tiny_model_path):
    # the LM head runs from the first position that predicts a response token: same loss and
    # gradients as all the logits, for plain and packed batches
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()  # eval: no dropout, grads still flow
    rows = demonstrations(4, seed=5)
    examples = [tokenize_demonstration(tokenizer, r, 64) for r in rows]
    pad = tokenizer.pad_token_id
    for batch in (collate(examples, pad), collate(pack(examples, 128), pad)):
        labels = batch.pop("labels")
        assert (labels[:, :2] == -100).all()  # there is a prompt to skip
        results = []
        for trimmed in (False, True):
            model.zero_grad()
            if trimmed:
                loss = response_loss(model, batch, labels)
            else:
                # use_cache=False as in training: with a cache transformers ignores the packed
                # rows' position_ids when building the mask
                loss = masked_cross_entropy(model(**batch, use_cache=False).logits, labels)
            loss.backward()
            results.append((loss.item(), model.lm_head.weight.grad.clone()))
        assert results[1][0] == pytest.approx(results[0][0], abs=1e-5)
        assert torch.allclose(results[1][1], results[0][1], atol=1e-6)


def test_packing_blocks_cross_example_attention(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    a, b = (tokenize_demonstration(tokenizer, r, 64) for r in demonstrations(2, seed=4))
    packed = pack([a, b], max_length=128)
    assert len(packed) == 1 and packed[0]["position_ids"][len(a["input_ids"])] == 0
    batch = collate(packed, tokenizer.pad_token_id)
    assert "attention_mask" not in batch
    with torch.no_grad():
        together = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits[0]
        alone = model(input_ids=torch.tensor([b["input_ids"]])).logits[0]
    assert torch.allclose(together[len(a["input_ids"]) :], alone, atol=1e-4)
    # max_length bounds every pack
    many = pack([a, b] * 5, max_length=len(a["input_ids"]) + len(b["input_ids"]))
    assert len(many) == 5


def test_micro_batches_are_deterministic_and_balanced():
    one = epoch_micro_batches(10, 4, epoch=1, seed=0, rank=0, world=1)
    assert one == epoch_micro_batches(10, 4, epoch=1, seed=0, rank=0, world=1)
    assert one != epoch_micro_batches(10, 4, epoch=2, seed=0, rank=0, world=1)
    assert sorted(i for b in one for i in b) == list(range(10))
    ranks = [epoch_micro_batches(10, 2, epoch=0, seed=0, rank=r, world=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # same number of backward calls on every process
    assert set(i for r in ranks for b in r for i in b) == set(range(10))


@pytest.mark.training
def test_resume_after_kill_finishes_without_redoing_steps(tiny_model_path, tmp_path):
    train_rows, eval_rows = demonstrations(24, seed=5), demonstrations(8, seed=6)
    cfg = config(tiny_model_path, tmp_path, batch_size=4, save_every=4, epochs=2)  # 12 steps

    reference = train_sft(
        config(tiny_model_path, tmp_path / "ref", batch_size=4, epochs=2), train_rows, eval_rows
    )

    first = Recorder(kill_at=7)
    with pytest.raises(Killed):
        train_sft(cfg, train_rows, eval_rows, callback=first)
    # step 8 reported (before its save would be), then the crash
    assert first.steps == list(range(1, 9)) and first.resumed_at == []
    assert (tmp_path / "out" / "state" / "state.json").exists()

    second = Recorder()
    result = train_sft(cfg, train_rows, eval_rows, callback=second)
    # saved at 4 (save_every) and 6 (epoch end): only step 7, whose state the kill
    # prevented, runs again
    assert second.resumed_at == [6] and second.steps == list(range(7, 13))
    assert result["steps"] == 12 and result["resumed_from_step"] == 6
    assert not (tmp_path / "out" / "state").exists()
    # and the resumed run ends where the uninterrupted one does (same data order, same RNG)
    assert result["eval/loss"] == pytest.approx(reference["eval/loss"], rel=1e-5)
    assert reference["resumed_from_step"] == 0


@pytest.mark.training
def test_state_is_saved_by_time_too(tiny_model_path, tmp_path):
    rows = demonstrations(24, seed=5)
    # no count, no epoch end before step 6; a save due as soon as any time has passed
    cfg = config(
        tiny_model_path, tmp_path, batch_size=4, epochs=1, save_every=0, save_every_minutes=1e-9
    )
    with pytest.raises(Killed):
        train_sft(cfg, rows, callback=Recorder(kill_at=3))
    again = Recorder()
    train_sft(cfg, rows, callback=again)
    assert again.resumed_at == [3] and again.steps == [4, 5, 6]


@pytest.mark.training
def test_gradient_accumulation_matches_the_big_batch(tiny_model_path, tmp_path):
    rows = demonstrations(8, seed=7)
    big = train_sft(config(tiny_model_path, tmp_path / "a", max_steps=1, batch_size=8), rows, rows)
    small = train_sft(
        config(tiny_model_path, tmp_path / "b", max_steps=1, batch_size=2, grad_accum=4), rows, rows
    )
    assert big["eval/loss"] == pytest.approx(small["eval/loss"], rel=1e-4)


@pytest.mark.training
def test_lora_output_is_a_merged_plain_model(tiny_model_path, tmp_path):
    rows = demonstrations(16, seed=8)
    train_sft(
        config(tiny_model_path, tmp_path, lora=True, lora_r=4, epochs=1, learning_rate=1e-2), rows
    )
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists()
    tuned = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    q_tuned = tuned.model.layers[0].self_attn.q_proj.weight
    q_base = base.model.layers[0].self_attn.q_proj.weight
    assert not torch.allclose(q_tuned, q_base)
    assert torch.equal(tuned.model.norm.weight, base.model.norm.weight)  # only adapted modules


@pytest.mark.training
def test_reward_model_picks_the_best_epoch(tiny_model_path, tmp_path, monkeypatch):
    import training.engine.sft as sft

    snapshots = []

    def fake_reward(model, tokenizer, path, prompts, max_new_tokens, poll=None):
        snapshots.append(model.lm_head.weight.detach().clone())
        return [0.0, 5.0, 1.0][len(snapshots) - 1]  # epoch 2 is the best

    monkeypatch.setattr(sft, "mean_reward", fake_reward)
    rows = demonstrations(16, seed=9)
    result = train_sft(config(tiny_model_path, tmp_path, epochs=3, reward_model="rm"), rows, rows)
    assert result["best_epoch"] == 2 and result["eval/reward_mean_best"] == 5.0
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "out").lm_head.weight
    assert torch.equal(saved, snapshots[1])


def test_cli_trains_from_files(tiny_model_path, tmp_path, capsys):
    from training.engine.sft import main

    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in demonstrations(8, seed=10)))
    main(
        [
            "--model",
            str(tiny_model_path),
            "--train_file",
            str(path),
            "--output_dir",
            str(tmp_path / "out"),
            "--max_steps",
            "2",
            "--batch_size",
            "4",
            "--max_length",
            "64",
            "--packing",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[0])["step"] == 1 and (tmp_path / "out" / "config.json").exists()


@pytest.mark.training
def test_reward_selection_with_a_real_reward_model(tiny_model_path, tmp_path):
    from transformers import AutoModelForSequenceClassification

    rm_dir = tmp_path / "rm"
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_model_path, num_labels=1)
    rm.config.pad_token_id = load_tokenizer(tiny_model_path).pad_token_id
    rm.save_pretrained(rm_dir)
    load_tokenizer(tiny_model_path).save_pretrained(rm_dir)
    rows = demonstrations(8, seed=11)
    recorder = Recorder()
    result = train_sft(
        config(
            tiny_model_path,
            tmp_path,
            epochs=2,
            batch_size=4,
            reward_model=str(rm_dir),
            reward_eval_prompts=2,
            reward_max_new_tokens=4,
        ),
        rows,
        rows,
        callback=recorder,
    )
    assert result["best_epoch"] in (1, 2) and isinstance(result["eval/reward_mean_best"], float)
    assert not (tmp_path / "out" / "best-epoch").exists()
    # polled before every batch of the two evaluations (2 loss batches, 1 generation batch,
    # 1 scoring batch each): a cancellation need not wait for the end of an evaluation
    assert recorder.polls == 8


@pytest.mark.training
def test_cancel_during_evaluation(tiny_model_path, tmp_path):
    rows = demonstrations(16, seed=12)
    recorder = Recorder(kill_at_poll=2)  # at the 2nd of 2 eval batches, the epoch end (step 2)
    with pytest.raises(Killed):
        train_sft(config(tiny_model_path, tmp_path, batch_size=8), rows, rows, callback=recorder)
    assert recorder.steps == [1]  # step 2's callback never came: it stopped inside the eval
