"""Supervised fine-tuning on demonstrations (InstructGPT step 1).

    python -m training.engine.sft --model tiny --train_file demos.jsonl --eval_file val.jsonl \
        --output_dir var/artifacts/sft-1 --epochs 2
    accelerate launch -m training.engine.sft --config sft.json      # several GPUs, same code

Cross-entropy on response tokens only (prompt tokens have label -100), AdamW, linear warmup then
cosine decay, eval loss every epoch. Resumable state goes to `output_dir/state` at every epoch end
and every `save_every` steps or `save_every_minutes`, whichever comes first; a rerun with the same
output_dir continues from it, and it is deleted when the run finishes.

Optionally, as in the paper, the epoch kept is the one whose greedy answers to validation prompts
get the highest mean score from a reward model (the best epoch's weights wait in
`output_dir/best-epoch`). The result is a plain `save_pretrained` folder (LoRA adapters merged
in) that transformers, TRL or vLLM load as is.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.engine import progress
from training.engine.base_model import LoraSettings, load_causal_lm, load_tokenizer
from training.engine.checkpointing import load_model_weights, load_state, save_state
from training.engine.config import config_to_dict, parse_cli
from training.engine.data import demonstration_to_messages, read_rows, tokenize_demonstration
from training.engine.devices import accelerator_for, fused_ok, main_process_decides
from training.engine.losses import masked_cross_entropy
from training.engine.sft_config import SFTConfig

Callback = Callable[[int, int, dict[str, float]], None]


# ---------------------------------------------------------------------------------------------
# batches


def pack(examples: list[dict[str, list[int]]], max_length: int) -> list[dict[str, list[int]]]:
    """Greedy packing in the given order: examples are appended to a row until the next one would
    overflow `max_length`. Each row carries position_ids that restart at 0 for every example;
    given position_ids and no attention mask, transformers builds a block-diagonal causal mask
    from the restarts, so examples in one row do not attend to each other (a real packing,
    not a plain concatenation). The first label of each example is -100 so no token is
    predicted from the previous example's last token."""
    rows: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "labels": [], "position_ids": []}
    for ex in examples:
        n = len(ex["input_ids"])
        if current["input_ids"] and len(current["input_ids"]) + n > max_length:
            rows.append(current)
            current = {"input_ids": [], "labels": [], "position_ids": []}
        current["input_ids"] += ex["input_ids"]
        current["labels"] += [-100] + ex["labels"][1:]
        current["position_ids"] += list(range(n))
    if current["input_ids"]:
        rows.append(current)
    return rows


def collate(items: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest item. Packed items get position_ids (padding restarts at 0, so it
    is a separate "example" too) and no attention mask; unpacked ones get an attention mask."""
    width = max(len(item["input_ids"]) for item in items)
    batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
    packed = "position_ids" in items[0]
    for item in items:
        n_pad = width - len(item["input_ids"])
        batch["input_ids"].append(item["input_ids"] + [pad_id] * n_pad)
        batch["labels"].append(item["labels"] + [-100] * n_pad)
        if packed:
            batch.setdefault("position_ids", []).append(item["position_ids"] + list(range(n_pad)))
        else:
            batch.setdefault("attention_mask", []).append(
                [1] * len(item["input_ids"]) + [0] * n_pad
            )
    return {key: torch.tensor(value) for key, value in batch.items()}


def epoch_micro_batches(
    n_items: int, batch_size: int, epoch: int, seed: int, rank: int, world: int
):
    """This process's micro-batches (lists of item indices) for one epoch.

    The order depends only on (seed, epoch), not on any RNG state, so a resumed run sees exactly
    the batches the killed one would have. With several processes the order is padded by wrapping
    around (as DistributedSampler does) so every process runs the same number of micro-batches
    (DDP needs matching backward calls); one process just gets a smaller last batch."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n_items, generator=g).tolist()
    stride = batch_size * world
    if world > 1:
        order += order[: math.ceil(n_items / stride) * stride - n_items]
    return [
        order[i + rank * batch_size : i + (rank + 1) * batch_size]
        for i in range(0, n_items, stride)
    ]


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        if schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if schedule == "linear":
            return max(0.0, 1 - progress)
        return 1.0

    return factor


def response_loss(model, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """masked_cross_entropy of the batch, with the (vocabulary-sized) LM head run only from the
    first position that predicts a response token: the prompt columns every row shares need no
    logits. Same loss as computing them all (tested); on SmolLM2 it took our SFT from 0.98x to
    1.16x TRL's SFTTrainer (bench/README.md)."""
    kept = labels[:, 1:] != -100
    rows = kept.any(1)
    start = int(kept[rows].int().argmax(1).min()) if rows.any() else 0
    logits = model(**batch, use_cache=False, logits_to_keep=labels.size(1) - start).logits
    return masked_cross_entropy(logits, labels[:, start:])


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def eval_loss(
    model,
    batches: list[dict[str, torch.Tensor]],
    device,
    poll: Callable[[], None] | None = None,
) -> tuple[float, int]:
    """(sum of response-token cross-entropy, number of response tokens) over `batches`;
    `poll()` runs before each batch so the caller can cancel."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        if poll is not None:
            poll()
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = batch.pop("labels")
        n = int((labels[:, 1:] != -100).sum())
        total += response_loss(model, batch, labels).item() * n
        count += n
    model.train(was_training)
    return total, count


def mean_reward(
    model,
    tokenizer,
    reward_model_path: str,
    prompts: list,
    max_new_tokens: int,
    poll: Callable[[], None] | None = None,
) -> float:
    """Mean reward-model score of the model's greedy answers to `prompts`; `poll()` runs between
    generation and scoring batches."""
    from training.engine.generate import sample_responses
    from training.engine.reward import score_responses

    answers = sample_responses(
        model, tokenizer, prompts, k=1, temperature=0.0, max_new_tokens=max_new_tokens, poll=poll
    )
    scores = score_responses(reward_model_path, prompts, [a[0] for a in answers], poll=poll)
    return float(sum(scores) / max(len(scores), 1))


# ---------------------------------------------------------------------------------------------
# setup


@dataclass
class SFTData:
    """The run's data, prepared once, and the step counts it implies."""

    train: list[dict[str, list[int]]]  # tokenized examples, or packs of them
    has_eval: bool  # validation rows exist (this process's share may still be empty)
    eval_batches: list[dict[str, torch.Tensor]]  # this process's share of the validation rows
    reward_prompts: list  # validation prompts the reward model scores at each epoch end
    steps_per_epoch: int
    total_steps: int


def load_model(config: SFTConfig):
    lora = None
    if config.lora:
        lora = LoraSettings(
            config.lora_r, config.lora_alpha, config.lora_dropout, list(config.lora_target_modules)
        )
    model = load_causal_lm(config.model, lora=lora)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if lora is not None:
            model.enable_input_require_grads()
    return model


def prepare_data(
    config: SFTConfig, tokenizer, train_rows: list, eval_rows: list, rank: int, world: int
) -> SFTData:
    # tokenized once; packing is decided once, so every epoch sees the same rows
    train = [tokenize_demonstration(tokenizer, row, config.max_length) for row in train_rows]
    if config.packing:
        g = torch.Generator().manual_seed(config.seed)
        train = pack(
            [train[i] for i in torch.randperm(len(train), generator=g).tolist()], config.max_length
        )
    evals = [tokenize_demonstration(tokenizer, row, config.max_length) for row in eval_rows]
    eval_batches = [
        collate(evals[i : i + config.batch_size], tokenizer.pad_token_id)
        for i in range(rank * config.batch_size, len(evals), config.batch_size * world)
    ]
    reward_prompts = [demonstration_to_messages(row)[:-1] for row in eval_rows]
    if not train:
        raise ValueError("no training demonstrations")
    micro_per_epoch = math.ceil(len(train) / (config.batch_size * world))
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps > 0:
        total_steps = min(total_steps, config.max_steps)
    return SFTData(
        train=train,
        has_eval=bool(evals),
        eval_batches=eval_batches,
        reward_prompts=reward_prompts[: config.reward_eval_prompts],
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
    )


def make_optimizer(model, config: SFTConfig, total_steps: int):
    """(trainable parameters, AdamW, LR schedule)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]  # no weight decay on norms and biases
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=tuple(config.adam_betas),
        fused=fused_ok(params),
    )
    warmup = int(config.warmup_ratio * total_steps)
    # Not passed to accelerator.prepare: an AcceleratedScheduler steps once per process per step.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(config.lr_schedule, warmup, total_steps)
    )
    return params, optimizer, scheduler


def resume(accelerator, state_dir: Path, model, optimizer, scheduler, total_steps, callback):
    """(step, extra state) saved in `state_dir`; (0, a fresh state) when there is none."""
    restored = load_state(
        state_dir, model=accelerator.unwrap_model(model), optimizer=optimizer, scheduler=scheduler
    )
    if restored is None:
        return 0, {"best_reward": None, "best_epoch": None, "eval_loss": None}
    step, state = restored
    accelerator.print(f"resumed from {state_dir} at step {step}/{total_steps}")
    progress.report_resumed(callback, step)
    return step, state


# ---------------------------------------------------------------------------------------------
# one step, evaluation, saving


def step_windows(data: SFTData, config: SFTConfig, start: int, rank: int, world: int):
    """This process's micro-batches (lists of item indices) for each optimizer step from
    `start` on; the epoch's order is drawn once per epoch, not once per step."""
    micro: list[list[int]] = []
    for step in range(start, data.total_steps):
        epoch, in_epoch = divmod(step, data.steps_per_epoch)
        if in_epoch == 0 or step == start:
            micro = epoch_micro_batches(
                len(data.train), config.batch_size, epoch, config.seed, rank, world
            )
        yield micro[in_epoch * config.grad_accum : (in_epoch + 1) * config.grad_accum]


def optimizer_step(accelerator, model, optimizer, scheduler, params, window, max_grad_norm):
    """Forward and backward over the window's micro-batches, then one optimizer step.
    Returns (the window's loss per response token, averaged over processes; the gradient norm
    before clipping, or None without clipping)."""
    device = accelerator.device
    # each response token of the window weighs the same, however micro-batches split them
    n_window = sum(int((b["labels"][:, 1:] != -100).sum()) for b in window)
    loss_sum = 0.0
    for j, batch in enumerate(window):
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = batch.pop("labels")
        n = int((labels[:, 1:] != -100).sum())
        # DDP all-reduces the gradients once, on the window's last backward
        last = j == len(window) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            loss = response_loss(model, batch, labels)
            accelerator.backward(loss * (n / max(n_window, 1)))
        loss_sum += loss.item() * n
    grad_norm = None
    if max_grad_norm > 0:
        grad_norm = accelerator.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    mean_loss = accelerator.reduce(torch.tensor(loss_sum / max(n_window, 1), device=device), "mean")
    return float(mean_loss), grad_norm


def validation_loss(accelerator, model, data: SFTData, poll) -> float | None:
    """Loss per response token over all processes' validation rows; None without any."""
    if not data.has_eval:
        return None
    device = accelerator.device
    total, count = eval_loss(model, data.eval_batches, device, poll)
    sums = accelerator.reduce(
        torch.tensor([total, count], device=device, dtype=torch.float64), "sum"
    )
    return float(sums[0] / sums[1].clamp(min=1))


def score_epoch(accelerator, model, tokenizer, config, data, state, epoch, best_dir, poll):
    """The reward model's mean score of this epoch's answers; the best epoch's weights are kept
    in `best_dir`, since the final model is the best epoch's, not the last one's."""
    reward = mean_reward(
        accelerator.unwrap_model(model),
        tokenizer,
        config.reward_model,
        data.reward_prompts,
        config.reward_max_new_tokens,
        poll=poll,
    )
    if state["best_reward"] is None or reward > state["best_reward"]:
        state["best_reward"], state["best_epoch"] = reward, epoch
        if accelerator.is_main_process:  # atomically: a kill mid-save keeps the previous best
            tmp = best_dir.with_name(f".{best_dir.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            accelerator.unwrap_model(model).save_pretrained(tmp, safe_serialization=True)
            shutil.rmtree(best_dir, ignore_errors=True)
            tmp.rename(best_dir)
    return reward


def save_resumable(accelerator, state_dir, model, optimizer, scheduler, step, state) -> None:
    if accelerator.is_main_process:
        save_state(
            state_dir,
            model=accelerator.unwrap_model(model),
            optimizer=optimizer,
            scheduler=scheduler,
            step=step,
            extra=state,
        )
    accelerator.wait_for_everyone()


def finish(accelerator, model, tokenizer, lora: bool, out_dir: Path, result: dict) -> None:
    """Save the best epoch's weights (the last ones without reward selection), LoRA merged in,
    and the result; the resumable state goes, so a rerun starts afresh."""
    state_dir, best_dir = out_dir / "state", out_dir / "best-epoch"
    final = accelerator.unwrap_model(model)
    if (best_dir / "config.json").exists() or (best_dir / "adapter_config.json").exists():
        load_model_weights(final, best_dir)
    if lora:
        final = final.merge_and_unload()
    if accelerator.is_main_process:
        final.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
        (out_dir / "train_results.json").write_text(json.dumps(result, indent=2))
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(best_dir, ignore_errors=True)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------------------------------------
# training


def train_sft(
    config: SFTConfig,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]] | None = None,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Fine-tune `config.model` on `train_rows`; return final metrics and the output folder.

    Re-running with the same config and output_dir after a crash continues from the state saved
    in output_dir/state. `callback(step, total_steps, metrics)` runs after every optimizer step
    (before the save of that step, so a caller recording steps never misses a saved one);
    `callback.poll()` and `callback.resumed(step)` when it has them (see progress.py).
    """
    from accelerate.utils import set_seed

    accelerator = accelerator_for(mixed_precision=config.mixed_precision)
    set_seed(config.seed)
    rank, world = accelerator.process_index, accelerator.num_processes
    out_dir = Path(config.output_dir)
    state_dir, best_dir = out_dir / "state", out_dir / "best-epoch"

    tokenizer = load_tokenizer(config.model)
    model = load_model(config)
    data = prepare_data(config, tokenizer, train_rows, eval_rows or [], rank, world)
    total_steps, steps_per_epoch = data.total_steps, data.steps_per_epoch
    params, optimizer, scheduler = make_optimizer(model, config, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)

    step, state = resume(accelerator, state_dir, model, optimizer, scheduler, total_steps, callback)
    resumed_from = step
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)
    poll = progress.poller(callback)

    model.train()
    metrics: dict[str, float] = {}
    started, tokens_seen = time.perf_counter(), 0
    for indices in step_windows(data, config, step, rank, world):
        window = [collate([data.train[i] for i in idx], tokenizer.pad_token_id) for idx in indices]
        window_tokens = sum(len(data.train[i]["input_ids"]) for idx in indices for i in idx)
        tokens_seen += window_tokens
        t0 = time.perf_counter()
        loss, grad_norm = optimizer_step(
            accelerator, model, optimizer, scheduler, params, window, config.max_grad_norm
        )
        step += 1
        metrics = {
            "train/loss": loss,
            "train/learning_rate": scheduler.get_last_lr()[0],
            "train/epoch": step / steps_per_epoch,
            "train/tokens_per_second": window_tokens * world / max(time.perf_counter() - t0, 1e-9),
        }
        if grad_norm is not None:
            metrics["train/grad_norm"] = float(grad_norm)

        epoch_end = step % steps_per_epoch == 0 or step == total_steps
        if epoch_end or (config.eval_every and step % config.eval_every == 0):
            loss_value = validation_loss(accelerator, model, data, poll)
            if loss_value is not None:
                metrics["eval/loss"] = state["eval_loss"] = loss_value
        if epoch_end and config.reward_model and data.reward_prompts:
            epoch = math.ceil(step / steps_per_epoch)
            metrics["eval/reward_mean"] = score_epoch(
                accelerator, model, tokenizer, config, data, state, epoch, best_dir, poll
            )
        # reported before the save: a caller that records steps has every step up to a
        # saved one, so a resumed run's series has no gap
        if callback is not None:
            callback(step, total_steps, metrics)
        # the last step is followed by the final save_pretrained; saving its state too would
        # write the weights and Adam state again just to delete them. The main process
        # decides: the clock could tell the processes different things.
        if step < total_steps and main_process_decides(
            accelerator, epoch_end or schedule.due(step)
        ):
            save_resumable(accelerator, state_dir, model, optimizer, scheduler, step, state)
            schedule.saved()

    elapsed = time.perf_counter() - started
    result = {
        "output_dir": str(out_dir),
        "steps": step,
        "total_steps": total_steps,
        "resumed_from_step": resumed_from,
        **{k: v for k, v in metrics.items() if k in ("train/loss", "train/learning_rate")},
        "eval/loss": state["eval_loss"],
        "train/runtime": elapsed,
        "train/tokens_per_second": tokens_seen * world / max(elapsed, 1e-9),
        "best_epoch": state["best_epoch"],
        "eval/reward_mean_best": state["best_reward"],
        "config": config_to_dict(config),
    }
    finish(accelerator, model, tokenizer, config.lora, out_dir, result)
    return result


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(SFTConfig, argv, required=("train_file",))
    train_rows = read_rows(config.train_file)
    eval_rows = read_rows(config.eval_file) if config.eval_file else None
    result = train_sft(config, train_rows, eval_rows, callback=progress.print_progress)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
