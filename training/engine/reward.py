"""Reward model training (InstructGPT §3.5): K-way Bradley–Terry on ranked responses.

    python -m training.engine.reward --config rm.json --model var/artifacts/sft \
        --train_file rankings.jsonl [--eval_file held_out.jsonl] [--demonstrations_file demos.jsonl]
    accelerate launch -m training.engine.reward --train_file ...      # several GPUs, same code

The reward model is the SFT model with its unembedding replaced by a scalar head read at the
last token of the response's rendered chat turn (end-of-turn tokens included, where transformers
reads a chat-templated conversation). It is saved as an ordinary
`LlamaForSequenceClassification` (`AutoModelForSequenceClassification`, num_labels=1) folder, so
transformers and TRL load it as is. The InstructGPT normalisation (mean reward of the
demonstrations = 0) is a constant offset; Llama's classification head has no bias, so the offset
is stored as `reward_bias` in the folder's config.json and added by `score` and by PPO. Loading
the folder elsewhere gives the raw score, which differs by that constant only (pairwise
comparisons are unaffected).

Each ranking of K is ONE batch element: its K responses are forwarded once (with `share_prompt`,
the prompt once too) and the loss is the mean of -log σ(r_w − r_l) over its strictly ordered
pairs; the batch loss is the mean over rankings. Training is one epoch by default: the paper
found the RM overfits after one pass over rankings whose pairs are highly correlated.

Resumable state (model, optimizer, step) goes to `output_dir/state` every `save_every` steps or
`save_every_minutes`, whichever comes first; a rerun with the same output_dir continues from it,
and it is deleted when the run finishes.

Under `accelerate launch` each optimizer step's rankings are split across the processes (data
parallel); the loss is scaled so the averaged gradient is that of the mean over ALL the step's
rankings, which is what one process computes alone, and metrics are summed across processes.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from training.engine import progress
from training.engine.base_model import LoraSettings, load_tokenizer, resolve_model, with_lora
from training.engine.checkpointing import has_state, load_state, save_state
from training.engine.config import config_to_dict, parse_cli
from training.engine.data import demonstration_to_messages, read_rows
from training.engine.devices import accelerator_for, fused_ok, main_process_decides
from training.engine.length_bias import length_bias_counts, length_bias_metrics
from training.engine.losses import kway_bradley_terry_loss_batched, pairwise_accuracy_counts
from training.engine.reward_config import RewardConfig
from training.engine.reward_packing import (
    EncodedRanking,
    RewardBatch,
    build_batch,
    encode_ranking,
    forward_rewards,
    per_ranking,
)

Callback = Callable[[int, int, dict[str, float]], None]


def pick_device(name: str = "") -> torch.device:
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_reward_model(name_or_path: str | Path, *, dtype: str = "float32", lora=None):
    """AutoModelForSequenceClassification with one output; from an SFT folder the head is new.

    sdpa attention: the packed layouts need a kernel that takes a 4-D mask.
    """
    from transformers import AutoModelForSequenceClassification

    path = resolve_model(name_or_path)
    torch_dtype = torch.float32 if dtype in ("", "float32", "fp32") else getattr(torch, dtype)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, torch_dtype=torch_dtype, attn_implementation="sdpa"
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = load_tokenizer(path).pad_token_id
    if lora is not None:
        # SEQ_CLS keeps the new `score` head fully trainable (modules_to_save) beside the adapters
        model = with_lora(model, lora, task_type="SEQ_CLS")
    return model


def reward_bias(model) -> float:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return float(getattr(inner.config, "reward_bias", 0.0) or 0.0)


def rewards_of(
    model,
    encoded: list[EncodedRanking],
    layout: str,
    batch_size: int,
    pad_id: int,
    poll: Callable[[], None] | None = None,
):
    """Raw rewards (no bias) of every ranking's responses, as a list of lists; `poll()` runs
    before each batch so the caller can cancel."""
    device = next(model.parameters()).device

    def rewards(chunk):
        return forward_rewards(model, build_batch(chunk, layout, pad_id).to(device))

    return per_ranking(model, encoded, batch_size, rewards, poll)


def accuracy_counts(
    rewards: list[list[float]], encoded: list[EncodedRanking]
) -> tuple[int, int, float]:
    """(correct, total, summed margin) over all strictly ordered pairs: sums, so processes add."""
    correct = total = 0
    margin = 0.0
    for r, e in zip(rewards, encoded, strict=True):
        c, t, m = pairwise_accuracy_counts(torch.tensor(r), torch.tensor(e.ranks))
        correct, total, margin = correct + c, total + t, margin + m
    return correct, total, margin


def accuracy_metrics(correct: float, total: float, margin: float) -> dict[str, float]:
    return {
        "eval/accuracy": correct / max(total, 1),
        "eval/margin": margin / max(total, 1),
        "eval/pairs": float(total),
    }


def accuracy_of(rewards: list[list[float]], encoded: list[EncodedRanking]) -> dict[str, float]:
    """Pooled pairwise accuracy and mean margin r_w − r_l over all strictly ordered pairs."""
    return accuracy_metrics(*accuracy_counts(rewards, encoded))


class RewardScorer(torch.nn.Module):
    """`forward_rewards` as a module's forward. DistributedDataParallel all-reduces gradients
    only for a forward that ran through its wrapper, and forward_rewards reaches into the
    backbone and head directly, so the whole computation is put behind one forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, fields: dict[str, Any]) -> torch.Tensor:
        return forward_rewards(self.model, RewardBatch(**fields))


def has_pairs(ranking: EncodedRanking) -> bool:
    return len(set(ranking.ranks)) > 1


def lr_at(step: int, total: int, config: RewardConfig) -> float:
    """Linear warmup, then cosine from lr down to min_lr_ratio·lr at the last step."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(total - config.warmup_steps, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def batch_order(n: int, epochs: int, per_batch: int, seed: int) -> list[list[int]]:
    """Every batch of the run, fixed by the seed, so a resumed run skips exactly the done ones."""
    batches = []
    for epoch in range(epochs):
        order = list(range(n))
        random.Random(seed * 1000 + epoch).shuffle(order)
        batches += [order[i : i + per_batch] for i in range(0, n, per_batch)]
    return batches


# ---------------------------------------------------------------------------------------------
# setup, one step, evaluation


def load_for_training(config: RewardConfig, device):
    lora = None
    if config.lora:
        lora = LoraSettings(
            config.lora_r, config.lora_alpha, config.lora_dropout, list(config.lora_target_modules)
        )
    model = load_reward_model(config.model, dtype=config.dtype, lora=lora).to(device)
    model.train()
    return model


def make_optimizer(accelerator, config: RewardConfig, model):
    """(trainable parameters, the model's scorer and AdamW, both put behind accelerate)."""
    params = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel for all parameters instead of a Python loop over them (CPU and CUDA)
    optimizer = torch.optim.AdamW(
        params, lr=config.lr, weight_decay=config.weight_decay, fused=fused_ok(params)
    )
    scorer, optimizer = accelerator.prepare(RewardScorer(model), optimizer)
    return params, scorer, optimizer


def resume(accelerator, state_dir: Path, model, optimizer, total: int, callback) -> int:
    """The step saved in `state_dir` (0 when none), with its model and optimizer restored."""
    if not has_state(state_dir):
        return 0
    # every process restores the same state
    start, _ = load_state(state_dir, model=model, optimizer=optimizer)
    accelerator.print(f"resumed from {state_dir} at step {start}/{total}")
    progress.report_resumed(callback, start)
    return start


def summed(accelerator, *values: float) -> list[float]:
    """Sums over processes (float64, so counts and sums stay exact); as is when alone."""
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(t, "sum").tolist()


def optimizer_step(accelerator, scorer, optimizer, params, step_rankings, config, pad_id):
    """One optimizer step on the step's rankings, split across the processes. Returns the
    step's loss, training accuracy on its pairs and tokens, over all processes, and the
    gradient norm before clipping."""
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = step_rankings[rank::world]
    # a process left without a ranking (fewer rankings than processes) still runs forward
    # and backward, with weight 0: DDP needs every process in every gradient all-reduce
    weight = 1 if mine else 0
    mine = mine or step_rankings[:1]
    batch = build_batch(mine, config.layout, pad_id).to(accelerator.device)
    rewards = scorer(vars(batch))
    loss, _ = kway_bradley_terry_loss_batched(rewards, batch.ranks, batch.mask)
    # the loss is the mean over this process's rankings that have a pair; DDP averages the
    # gradients over processes, so scale to (my rankings / all the step's rankings) · world
    # to get the gradient of the mean over all of them (alone: the loss as is)
    n_mine = sum(map(has_pairs, mine)) * weight
    n_all = max(sum(map(has_pairs, step_rankings)), 1)
    optimizer.zero_grad(set_to_none=True)
    accelerator.backward(loss * (n_mine * world / n_all) if world > 1 else loss)
    grad_norm = accelerator.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()

    # training accuracy on this batch's pairs, from the rewards already computed
    correct = pairs = 0
    for b in range(rewards.size(0)):
        k = int(batch.mask[b].sum())
        c, t, _ = pairwise_accuracy_counts(rewards[b, :k].detach(), batch.ranks[b, :k])
        correct, pairs = correct + c * weight, pairs + t * weight
    if world > 1:
        loss_sum, correct, pairs, step_tokens = summed(
            accelerator, loss.item() * n_mine, correct, pairs, batch.n_tokens * weight
        )
        loss_value = loss_sum / n_all
    else:
        loss_value, step_tokens = loss.item(), batch.n_tokens
    return loss_value, correct / max(pairs, 1), step_tokens, grad_norm


def evaluate(accelerator, model, rankings, config: RewardConfig, pad_id, poll) -> dict:
    """Pairwise accuracy on held-out rankings, and the length-bias report beside it
    (length_bias.py): each process scores its share, counts are summed."""
    mine = rankings[accelerator.process_index :: accelerator.num_processes]
    r = rewards_of(model, mine, config.layout, config.eval_batch_size, pad_id, poll)
    lengths = [[len(ids) for ids in e.response_ids] for e in mine]
    bias = length_bias_counts(r, lengths, [e.ranks for e in mine])
    return accuracy_metrics(*summed(accelerator, *accuracy_counts(r, mine))) | (
        length_bias_metrics(*summed(accelerator, *bias))
    )


def centring_bias(accelerator, model, tokenizer, config, encoded, demonstrations, poll) -> float:
    """InstructGPT's normalisation: the constant that makes the demonstrations' mean reward 0.
    Without demonstrations, (a sample of) the ranked responses themselves are centred."""
    if demonstrations:
        # any demonstration format SFT reads: the last assistant turn is the response
        conversations = [demonstration_to_messages(d) for d in demonstrations]
        centre_rows = [
            {"prompt": c[:-1], "responses": [c[-1]["content"]], "ranks": [1]} for c in conversations
        ]
        centre = [encode_ranking(tokenizer, row, config.max_length) for row in centre_rows]
    else:
        centre = encoded[: max(1, config.normalise_samples // max(len(encoded[0].ranks), 1))]
    mine = centre[accelerator.process_index :: accelerator.num_processes]
    pad_id = tokenizer.pad_token_id
    rewards = rewards_of(model, mine, config.layout, config.eval_batch_size, pad_id, poll)
    flat = [x for r in rewards for x in r]
    reward_sum, n_rewards = summed(accelerator, sum(flat), len(flat))
    return -reward_sum / n_rewards


# ---------------------------------------------------------------------------------------------
# training


def train_reward(
    config: RewardConfig,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]] | None = None,
    demonstrations: list[dict[str, Any]] | None = None,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Train a reward model on ranking / pair rows; return the final metrics and output_dir.

    Rows: {prompt, responses[], ranks[]} (1 = best, equal = tie) or {prompt, chosen, rejected}.
    demonstrations: {prompt, completion} rows whose mean reward is set to 0 afterwards.
    Re-running with the same config and output_dir after a crash continues from the state saved
    in output_dir/state. `callback(step, total, metrics)` runs after every optimizer step (before
    its save); `callback.poll()` and `callback.resumed(step)` when it has them (progress.py).
    """
    from accelerate.utils import set_seed

    # single process: a plain loop on cuda (when available) or cpu; under `accelerate launch`
    # one process per device with DDP around the model (tested with 2 gloo CPU processes).
    # DeepSpeed ZeRO-2 through accelerate's config, tried on the CPU with deepspeed 0.19.8: the
    # loop trains through the DeepSpeed engine, but each process alone (no CPU process group);
    # sharding across GPUs is untried.
    # ZeRO-3 shards the weights, which rewards_of and the final save read whole: not supported.
    accelerator = accelerator_for(config.device)
    set_seed(config.seed)  # the same on every process: the same new head everywhere
    out = Path(config.output_dir)
    state_dir = out / "state"
    tokenizer = load_tokenizer(resolve_model(config.model))
    pad_id = tokenizer.pad_token_id
    encoded = [encode_ranking(tokenizer, row, config.max_length) for row in train_rows]
    eval_encoded = [encode_ranking(tokenizer, row, config.max_length) for row in eval_rows or []]
    model = load_for_training(config, accelerator.device)
    params, scorer, optimizer = make_optimizer(accelerator, config, model)
    batches = batch_order(len(encoded), config.epochs, config.rankings_per_batch, config.seed)
    total = len(batches)

    start = resume(accelerator, state_dir, model, optimizer, total, callback)
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)
    poll = progress.poller(callback)
    metrics: dict[str, float] = {}
    t0, tokens = time.perf_counter(), 0
    for step in range(start, total):
        lr = lr_at(step, total, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_rankings = [encoded[i] for i in batches[step]]
        loss, accuracy, step_tokens, grad_norm = optimizer_step(
            accelerator, scorer, optimizer, params, step_rankings, config, pad_id
        )
        tokens += step_tokens
        metrics = {
            "train/loss": loss,
            "train/accuracy": accuracy,
            "train/grad_norm": float(grad_norm),
            "train/lr": lr,
            "train/tokens_per_s": tokens / max(time.perf_counter() - t0, 1e-9),
        }
        done = step + 1
        if eval_encoded and config.eval_every and done % config.eval_every == 0 and done < total:
            metrics.update(evaluate(accelerator, model, eval_encoded, config, pad_id, poll))
        # reported before the save: a caller that records steps has every step up to a saved
        # one, so a resumed run's series has no gap
        if callback is not None:
            callback(done, total, metrics)
        # the last step is followed by the final save; the main process decides (the clock
        # could tell the processes different things)
        if done < total and main_process_decides(accelerator, schedule.due(done)):
            if accelerator.is_main_process:
                save_state(state_dir, model=model, optimizer=optimizer, step=done)
            accelerator.wait_for_everyone()
            schedule.saved()

    final = dict(metrics)
    final["train/runtime"] = time.perf_counter() - t0  # the loop only: no loading, no scoring
    bias = centring_bias(accelerator, model, tokenizer, config, encoded, demonstrations, poll)
    if eval_encoded:
        final.update(evaluate(accelerator, model, eval_encoded, config, pad_id, poll))
    final["reward_bias"] = bias
    if accelerator.is_main_process:
        save_reward_model(model, tokenizer, out, bias, config, final)
        # the finished model supersedes the resumable state; a rerun then starts afresh
        shutil.rmtree(state_dir, ignore_errors=True)
    accelerator.wait_for_everyone()
    if callback is not None and eval_encoded:
        callback(total, total, {k: v for k, v in final.items() if k.startswith("eval/")})
    return {"output_dir": str(out), "steps": total, "resumed_from_step": start, "metrics": final}


def save_reward_model(model, tokenizer, out: Path, bias: float, config, metrics) -> None:
    """Merged (no adapters) sequence-classification folder + tokenizer + reward_model.json."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.config.reward_bias = bias
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {"reward_bias": bias, "metrics": metrics, "config": config_to_dict(config)}
    (out / "reward_model.json").write_text(json.dumps(meta, indent=2))


def score(
    model_path: str | Path,
    rows: list[dict[str, Any]],
    *,
    batch_size: int = 16,
    max_length: int = 512,
    device: str = "",
) -> list[float]:
    """Normalised reward (bias included) of each {prompt, completion | response} row."""
    prompts = [r["prompt"] for r in rows]
    responses = [r["completion"] if "completion" in r else r["response"] for r in rows]
    return score_responses(
        model_path, prompts, responses, batch_size=batch_size, max_length=max_length, device=device
    )


def score_responses(
    model_path: str | Path,
    prompts: list,
    responses: list[str],
    *,
    batch_size: int = 16,
    max_length: int = 512,
    device: str = "",
    poll: Callable[[], None] | None = None,
) -> list[float]:
    """Normalised reward of each (prompt, response); prompts are text or lists of messages.
    `poll()` runs between batches (see rewards_of)."""
    tokenizer = load_tokenizer(model_path)
    model = load_reward_model(model_path).to(pick_device(device))
    encoded = [
        encode_ranking(tokenizer, {"prompt": p, "responses": [r], "ranks": [1]}, max_length)
        for p, r in zip(prompts, responses, strict=True)
    ]
    raw = rewards_of(model, encoded, "shared", batch_size, tokenizer.pad_token_id, poll)
    bias = reward_bias(model)
    return [r[0] + bias for r in raw]


def pairwise_accuracy(
    model_path: str | Path,
    rows: list[dict[str, Any]],
    *,
    batch_size: int = 16,
    max_length: int = 512,
    device: str = "",
) -> dict[str, float]:
    """{eval/accuracy, eval/margin, eval/pairs} of a saved reward model on ranking / pair rows."""
    tokenizer = load_tokenizer(model_path)
    model = load_reward_model(model_path).to(pick_device(device))
    encoded = [encode_ranking(tokenizer, row, max_length) for row in rows]
    raw = rewards_of(model, encoded, "shared", batch_size, tokenizer.pad_token_id)
    return accuracy_of(raw, encoded)


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(RewardConfig, argv, required=("train_file",))
    result = train_reward(
        config,
        read_rows(config.train_file),
        read_rows(config.eval_file) if config.eval_file else None,
        read_rows(config.demonstrations_file) if config.demonstrations_file else None,
        callback=progress.print_progress,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
