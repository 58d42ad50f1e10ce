"""Direct preference optimisation (Rafailov et al., 2023): the policy learns from rankings
directly, with no reward model and no RL loop.

    python -m training.engine.dpo --model var/artifacts/sft --train_file rankings.jsonl \
        [--eval_file held_out.jsonl] --output_dir var/artifacts/dpo-1 --beta 0.1

Each ranking of K is ONE batch element, as in the reward model: with `share_prompt` its row is
[P R1 R2 ... RK], the prompt encoded once and each response seeing the prompt and itself only
(reward_packing.py), so one forward pass gives the summed log-probability of all K responses
and, from them, all C(K, 2) pairs. The loss (losses.kway_dpo_loss) is the mean over every
strictly ordered pair of the step; ties give no pair. That is the pairwise expansion's loss, at
the cost of K sequences instead of 2·C(K, 2).

The reference model is the starting policy. Its log-probabilities of every train and eval
response are computed once, before the first step, and kept in `output_dir/reference_logps.json`;
no second model is held in memory, and a resumed run reads them back instead of recomputing
them from a policy that has since moved. Dropout is off, so the first step's log-ratios are 0.

The result is a plain causal-LM `save_pretrained` folder (LoRA merged in) with `dpo.json` beside
it (config and final metrics). One process; resumable state in `output_dir/state` as the other
trainers write it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.engine import progress
from training.engine.base_model import (
    LoraSettings,
    disable_dropout,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
)
from training.engine.checkpointing import save_state
from training.engine.config import config_to_dict, parse_cli
from training.engine.data import read_rows
from training.engine.devices import accelerator_for, fused_ok
from training.engine.dpo_config import DPOConfig
from training.engine.losses import kway_dpo_loss, token_logprobs
from training.engine.reward import batch_order, has_pairs, lr_at, resume
from training.engine.reward_packing import (
    RewardBatch,
    build_batch,
    encode_ranking,
    hidden_states,
    per_ranking,
)

Callback = Callable[[int, int, dict[str, float]], None]


# ---------------------------------------------------------------------------------------------
# log-probabilities of every response of a batch of rankings


@dataclass
class ResponseTokens:
    """Where each response token of a batch is, and which column's logits predict it."""

    row: torch.Tensor  # [n_tokens]
    col: torch.Tensor  # [n_tokens] the column whose hidden state predicts the token
    token: torch.Tensor  # [n_tokens]
    slot: torch.Tensor  # [n_tokens] flat index into the [B, K_max] matrix of its response

    def to(self, device) -> ResponseTokens:
        return ResponseTokens(*(t.to(device) for t in vars(self).values()))


def response_tokens(rankings, layout: str) -> ResponseTokens:
    """The response tokens of `rankings` laid out by `build_batch(rankings, layout)`: the same
    column arithmetic, read the other way. A response's first token is predicted from the last
    prompt token (in `shared`, the one prompt every response continues)."""
    k_max = max(len(r.response_ids) for r in rankings)
    rows, cols, tokens, slots = [], [], [], []
    row = 0
    for b, ranking in enumerate(rankings):
        p = len(ranking.prompt_ids)
        col = p  # where the next response starts (shared: right after the one prompt)
        for k, resp in enumerate(ranking.response_ids):
            if layout == "padded":
                start = p
            elif layout == "packed":  # [P R1][P R2]...: each block has its own prompt copy
                start = col
                col += len(resp) + p
            else:
                start = col
                col += len(resp)
            first_from = start - 1 if layout != "shared" else p - 1
            rows += [row] * len(resp)
            cols += [first_from] + list(range(start, start + len(resp) - 1))
            tokens += resp
            slots += [b * k_max + k] * len(resp)
            if layout == "padded":
                row += 1
        if layout != "padded":
            row += 1
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    return ResponseTokens(as_long(rows), as_long(cols), as_long(tokens), as_long(slots))


def sequence_logprobs(model, batch: RewardBatch, targets: ResponseTokens) -> torch.Tensor:
    """Summed log π(response | prompt) of every response, [B, K_max] (0 on padding slots).

    The backbone runs on the batch's rows; the vocabulary-sized head only on the positions
    that predict a response token."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone, head = inner.get_decoder(), inner.get_output_embeddings()
    hidden = hidden_states(backbone, batch)
    logps = token_logprobs(head(hidden[targets.row, targets.col]), targets.token)
    out = torch.zeros(batch.ranks.numel(), dtype=logps.dtype, device=logps.device)
    return out.index_add(0, targets.slot, logps).view_as(batch.ranks)


def batch_logprobs(model, rankings, layout: str, pad_id: int, device) -> tuple:
    """(log-probs [B, K_max], the batch) of `rankings` under `model`."""
    batch = build_batch(rankings, layout, pad_id).to(device)
    targets = response_tokens(rankings, layout).to(device)
    return sequence_logprobs(model, batch, targets), batch


def logprobs_of(model, rankings, layout: str, batch_size: int, pad_id: int, poll=None):
    """Summed log-probs of every response of `rankings`, as a list of lists."""
    device = next(model.parameters()).device

    def logprobs(chunk):
        return batch_logprobs(model, chunk, layout, pad_id, device)[0]

    return per_ranking(model, rankings, batch_size, logprobs, poll)


def padded(values: list[list[float]], batch: RewardBatch) -> torch.Tensor:
    """Per-ranking lists of floats as a [B, K_max] tensor shaped like the batch's ranks."""
    out = torch.zeros(batch.ranks.shape, dtype=torch.float32)
    for b, row in enumerate(values):
        out[b, : len(row)] = torch.tensor(row)
    return out.to(batch.ranks.device)


# ---------------------------------------------------------------------------------------------
# the run


def load_policy(config: DPOConfig, device):
    lora = None
    if config.lora:
        lora = LoraSettings(
            config.lora_r, config.lora_alpha, config.lora_dropout, list(config.lora_target_modules)
        )
    model = load_causal_lm(config.model, dtype=config.dtype, lora=lora).to(device)
    disable_dropout(model)  # the log-ratios compare the same network with itself
    model.train()
    return model


def reference_logps(model, encoded, eval_encoded, config, pad_id, out: Path, poll) -> dict:
    """{"train": [...], "eval": [...]} of the starting policy, from the cache file when a
    resumed run finds it (the policy has moved since), else computed and written once."""
    cache = out / "reference_logps.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if len(saved["train"]) == len(encoded) and len(saved["eval"]) == len(eval_encoded):
            return saved
    size = config.eval_batch_size
    saved = {
        "train": logprobs_of(model, encoded, config.layout, size, pad_id, poll),
        "eval": logprobs_of(model, eval_encoded, config.layout, size, pad_id, poll),
    }
    out.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(saved))
    return saved


def evaluate(model, rankings, references, config: DPOConfig, pad_id, poll) -> dict[str, float]:
    """Held-out DPO loss, preference accuracy (the implicit reward β·(log π − log π_ref) ranks
    the preferred response higher) and mean margin, pooled over pairs."""
    policy = logprobs_of(model, rankings, config.layout, config.eval_batch_size, pad_id, poll)
    total = correct = margin = loss_sum = 0.0
    for i in range(0, len(rankings), config.eval_batch_size):
        chunk = rankings[i : i + config.eval_batch_size]
        batch = build_batch(chunk, config.layout, pad_id)
        loss, stats = kway_dpo_loss(
            padded(policy[i : i + len(chunk)], batch),
            padded(references[i : i + len(chunk)], batch),
            batch.ranks,
            batch.mask,
            beta=config.beta,
            label_smoothing=config.label_smoothing,
            loss_type=config.loss_type,
        )
        n = float(stats["pairs"])
        total += n
        loss_sum += float(loss) * n
        correct += float(stats["rewards/accuracies"]) * n
        margin += float(stats["rewards/margins"]) * n
    n = max(total, 1.0)
    return {
        "eval/loss": loss_sum / n,
        "eval/accuracy": correct / n,
        "eval/margin": margin / n,
        "eval/pairs": total,
    }


def optimizer_step(model, optimizer, params, step_rankings, step_refs, config, pad_id, device):
    """One optimizer step on the step's rankings; returns its metrics and tokens."""
    logps, batch = batch_logprobs(model, step_rankings, config.layout, pad_id, device)
    loss, stats = kway_dpo_loss(
        logps,
        padded(step_refs, batch),
        batch.ranks,
        batch.mask,
        beta=config.beta,
        label_smoothing=config.label_smoothing,
        loss_type=config.loss_type,
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    metrics = {"train/loss": loss.item(), "train/grad_norm": float(grad_norm)}
    metrics |= {name: float(value) for name, value in stats.items() if name != "pairs"}
    return metrics, batch.n_tokens


def train_dpo(
    config: DPOConfig,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]] | None = None,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Train a policy on ranking / pair rows with DPO; return the final metrics and output_dir.

    Rows: {prompt, responses[], ranks[]} (1 = best, equal = tie) or {prompt, chosen, rejected}.
    Re-running with the same config and output_dir after a crash continues from the state saved
    in output_dir/state. `callback(step, total, metrics)` runs after every optimizer step (before
    its save); `callback.poll()` and `callback.resumed(step)` when it has them (progress.py).
    """
    from accelerate.utils import set_seed

    accelerator = accelerator_for(config.device)
    if accelerator.num_processes > 1:
        raise ValueError("processes: DPO runs in one process")
    set_seed(config.seed)
    device = accelerator.device
    out = Path(config.output_dir)
    state_dir = out / "state"
    tokenizer = load_tokenizer(resolve_model(config.model))
    pad_id = tokenizer.pad_token_id
    encoded = [encode_ranking(tokenizer, row, config.max_length) for row in train_rows]
    encoded = [ranking for ranking in encoded if has_pairs(ranking)]  # all ties: nothing to learn
    if not encoded:
        raise ValueError("train_file: no ranking with a strictly ordered pair")
    eval_encoded = [encode_ranking(tokenizer, row, config.max_length) for row in eval_rows or []]
    eval_encoded = [ranking for ranking in eval_encoded if has_pairs(ranking)]
    model = load_policy(config, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=config.lr, weight_decay=config.weight_decay, fused=fused_ok(params)
    )
    batches = batch_order(len(encoded), config.epochs, config.rankings_per_batch, config.seed)
    total = len(batches)
    poll = progress.poller(callback)
    start = resume(accelerator, state_dir, model, optimizer, total, callback)
    references = reference_logps(model, encoded, eval_encoded, config, pad_id, out, poll)
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)

    metrics: dict[str, float] = {}
    t0, tokens = time.perf_counter(), 0
    for step in range(start, total):
        lr = lr_at(step, total, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rankings = [encoded[i] for i in batches[step]]
        refs = [references["train"][i] for i in batches[step]]
        metrics, step_tokens = optimizer_step(
            model, optimizer, params, rankings, refs, config, pad_id, device
        )
        tokens += step_tokens
        metrics |= {
            "train/lr": lr,
            "train/tokens_per_s": tokens / max(time.perf_counter() - t0, 1e-9),
        }
        done = step + 1
        if eval_encoded and config.eval_every and done % config.eval_every == 0 and done < total:
            metrics |= evaluate(model, eval_encoded, references["eval"], config, pad_id, poll)
        if callback is not None:
            callback(done, total, metrics)
        if done < total and schedule.due(done):
            save_state(state_dir, model=model, optimizer=optimizer, step=done)
            schedule.saved()

    final = dict(metrics)
    final["train/runtime"] = time.perf_counter() - t0
    if eval_encoded:
        final |= evaluate(model, eval_encoded, references["eval"], config, pad_id, poll)
        if callback is not None:
            callback(total, total, {k: v for k, v in final.items() if k.startswith("eval/")})
    save_policy(model, tokenizer, out, config, final)
    shutil.rmtree(state_dir, ignore_errors=True)
    return {"output_dir": str(out), "steps": total, "resumed_from_step": start, "metrics": final}


def save_policy(model, tokenizer, out: Path, config: DPOConfig, metrics) -> None:
    """Merged (no adapters) causal-LM folder + tokenizer + dpo.json."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {"metrics": metrics, "config": config_to_dict(config)}
    (out / "dpo.json").write_text(json.dumps(meta, indent=2))
    (out / "reference_logps.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(DPOConfig, argv)
    if not config.train_file:
        raise SystemExit("--train_file is required")
    train_rows = read_rows(config.train_file)
    eval_rows = read_rows(config.eval_file) if config.eval_file else None
    result = train_dpo(config, train_rows, eval_rows, callback=progress.print_progress)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
