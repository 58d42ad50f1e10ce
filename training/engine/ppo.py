"""PPO against a frozen reward model, with a KL penalty to the SFT model (InstructGPT §3.5).

    python -m training.engine.ppo --policy var/artifacts/sft --reward_model var/artifacts/rm \
        --prompts_file prompts.jsonl [--pretrain_file corpus.jsonl] [--config ppo.json] ...
    accelerate launch -m training.engine.ppo --prompts_file ...       # several GPUs, same code

Four models: the policy (starts as the SFT model, trained), the reference (the SFT model,
frozen), the value model (starts as the reward model, trained; one value per token) and the
reward model (frozen). Each step:

1. rollout: sample one response per prompt from the policy;
2. score: the reward model's score r(x, y) (+ its normalising bias, − a penalty when the
   response never ended), read after the chat template's end-of-turn tokens as in training;
   per-token reward  R_t = −β·(log π(y_t) − log π_ref(y_t)), plus r(x, y) on the last token;
3. GAE (γ, λ) on those rewards with the value model's values; whiten the advantages;
4. `ppo_epochs` passes over the batch in mini-batches: clipped surrogate + vf_coef·clipped value
   loss, and, for PPO-ptx, + γ_ptx·(LM loss on pretraining texts);
5. adapt β when `adaptive_kl` (Ziegler et al.).

Resumable state (policy, value model, optimizer, β) goes to `output_dir/state` every
`save_every` steps or `save_every_minutes`, whichever comes first; a rerun with the same
output_dir continues from it, and it is deleted when the run finishes.

Under `accelerate launch` every process samples its own `rollouts_per_step` rollouts (sizes are
per process, like TRL's per-device batch sizes) and DDP averages the gradients of the PPO
epochs; β and the logged metrics use the mean over processes. Steps 1–3 live in ppo_rollout.py.

Metric names follow TRL's PPOTrainer.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.engine import progress, watch
from training.engine.base_model import (
    disable_dropout,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
)
from training.engine.checkpointing import has_state, load_model_weights, load_state, save_state
from training.engine.config import config_to_dict, parse_cli
from training.engine.data import encode_prompt, prompt_to_messages, read_rows, stop_token_ids
from training.engine.devices import accelerator_for, fused_ok, main_process_decides
from training.engine.losses import (
    AdaptiveKLController,
    FixedKLController,
    clipped_surrogate_loss,
    clipped_value_loss,
    masked_cross_entropy,
    token_logprobs,
)
from training.engine.ppo_config import PPOConfig
from training.engine.ppo_rollout import (  # noqa: F401  (response_mask: part of this API)
    ValueHead,
    answer_and_score,
    policy_forward,
    response_mask,
    rollout,
)
from training.engine.reward import load_reward_model

Callback = Callable[[int, int, dict[str, float]], None]


class PolicyAndValue:
    """What the resumable state saves: the policy at the top of the folder (so checkpointing's
    loader restores it), the value model in `value/`."""

    def __init__(self, policy, value):
        self.policy, self.value = policy, value

    def save_pretrained(self, folder, **kwargs):
        self.policy.save_pretrained(folder, **kwargs)
        self.value.save_pretrained(Path(folder) / "value", **kwargs)


def restore(state_dir: Path, policy, value, optimizer) -> tuple[int, dict]:
    step, extra = load_state(state_dir, model=policy, optimizer=optimizer)
    # load_state falls back to the moved-aside copy when a kill fell between its renames
    for folder in (state_dir, state_dir.with_name(f".{state_dir.name}.old")):
        if (folder / "state.json").exists():
            load_model_weights(value, folder / "model" / "value")
            break
    return step, extra


def encode_pretrain(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return [
        (tokenizer(t, add_special_tokens=False).input_ids + eos)[:max_length]
        for t in texts
        if t.strip()
    ]


def pretrain_batch(seqs: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], labels[i, : len(s)], mask[i, : len(s)] = (
            torch.tensor(s),
            torch.tensor(s),
            1,
        )
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


# ---------------------------------------------------------------------------------------------
# setup


@dataclass
class Models:
    policy: Any  # trained; starts as the SFT model
    ref: Any  # the SFT model, frozen: the KL penalty's reference
    value: Any  # trained; starts as the reward model, one value per token
    reward: Any  # frozen
    # the trained two behind accelerate.prepare: the PPO epochs' forwards must run through the
    # DDP wrappers for the gradients to be all-reduced; the rollout uses the plain ones (no
    # grads there)
    policy_ddp: Any = None
    value_ddp: Any = None


def load_models(config: PPOConfig, device) -> Models:
    models = Models(
        policy=load_causal_lm(config.policy).to(device),
        ref=load_causal_lm(config.policy).to(device).eval().requires_grad_(False),
        value=load_reward_model(config.reward_model).to(device),
        reward=load_reward_model(config.reward_model).to(device).eval().requires_grad_(False),
    )
    # dropout would make the old and new log-probs (and values) of the same tokens differ by
    # noise; the rollout reads the value model in train mode, and nothing should hang on a mode
    for m in (models.policy, models.ref, models.value, models.reward):
        disable_dropout(m)
    return models


def make_optimizer(accelerator, config: PPOConfig, models: Models):
    """One AdamW over policy and value model, the three put behind accelerate (which sets
    `models.policy_ddp` and `models.value_ddp`); (trainable parameters, optimizer)."""
    params = [
        p
        for p in list(models.policy.parameters()) + list(models.value.parameters())
        if p.requires_grad
    ]
    optimizer = torch.optim.AdamW(params, lr=config.lr, eps=1e-5, fused=fused_ok(params))
    models.policy_ddp, models.value_ddp, optimizer = accelerator.prepare(
        models.policy, ValueHead(models.value), optimizer
    )
    return params, optimizer


def watcher(config: PPOConfig, models: Models, prompts: list, tokenizer, device):
    """look(model) -> (mean length, [proxy score, gold score?]) on the watch prompts, or None
    when the watch is off. The gold RM is loaded here: only the watch reads it."""
    if not prompts:
        return None
    judges = [models.reward]
    if config.gold_reward_model:
        gold = load_reward_model(config.gold_reward_model).to(device)
        disable_dropout(gold)
        judges.append(gold.eval().requires_grad_(False))
    stop_ids = stop_token_ids(models.policy, tokenizer)

    def look(model):
        return answer_and_score(model, prompts, judges, config, tokenizer, stop_ids)

    return look


def kl_controller(config: PPOConfig):
    if config.adaptive_kl:
        return AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
    return FixedKLController(config.kl_coef)


def resume(accelerator, state_dir: Path, models: Models, optimizer, kl_ctl, total, callback):
    """The step saved in `state_dir` (0 when none), its models, optimizer and β restored."""
    if not has_state(state_dir):
        return 0
    # every process restores the same state
    start, extra = restore(state_dir, models.policy, models.value, optimizer)
    kl_ctl.value = extra.get("kl_coef", kl_ctl.value)
    accelerator.print(f"resumed from {state_dir} at step {start}/{total}")
    progress.report_resumed(callback, start)
    return start


# ---------------------------------------------------------------------------------------------
# one step


def ppo_epochs(
    config: PPOConfig, r, models: Models, optimizer, params, accelerator, ptx, rng, pad_id
):
    """`config.ppo_epochs` passes over the rollout batch `r` in mini-batches, one optimizer step
    each; PPO-ptx adds an LM loss on pretraining texts `ptx` drawn with `rng`. Returns each
    mini-batch's statistics."""
    device = accelerator.device
    B, mb, P = config.rollouts_per_step, config.mini_batch_size, r.n_prompt
    models.policy.train()
    models.value.train()
    stats: dict[str, list[float]] = {
        k: [] for k in ("clipfrac", "approxkl", "pg_loss", "value_loss", "vf_clipfrac", "ptx")
    }
    for _ in range(config.ppo_epochs):
        order = torch.randperm(B, device=device)
        for i in range(0, B, mb):
            idx = order[i : i + mb]
            ids, mask, m = r.ids[idx], r.mask[idx], r.resp_mask[idx]
            new_logits = policy_forward(models.policy_ddp, ids, mask, P, config.temperature)
            new_logprobs = token_logprobs(new_logits, r.responses[idx])
            del new_logits
            pg_loss, clipfrac, approxkl = clipped_surrogate_loss(
                new_logprobs, r.old_logprobs[idx], r.advantages[idx], m, config.cliprange
            )
            new_values = models.value_ddp(ids, mask, P)
            vf_loss, vf_clipfrac = clipped_value_loss(
                new_values, r.old_values[idx], r.returns[idx], m, config.cliprange_value
            )
            loss = pg_loss + config.vf_coef * vf_loss
            if ptx:
                texts = [ptx[rng.randrange(len(ptx))] for _ in range(config.ptx_batch_size)]
                ptx_loss = pretrain_loss(models.policy_ddp, texts, pad_id, device)
                loss = loss + config.ptx_coef * ptx_loss
                stats["ptx"].append(ptx_loss.item())
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            stats["clipfrac"].append(clipfrac.item())
            stats["approxkl"].append(approxkl.item())
            stats["pg_loss"].append(pg_loss.item())
            stats["value_loss"].append(vf_loss.item())
            stats["vf_clipfrac"].append(vf_clipfrac.item())
    return stats


def pretrain_loss(policy, texts: list[list[int]], pad_id: int, device) -> torch.Tensor:
    batch = {k: v.to(device) for k, v in pretrain_batch(texts, pad_id).items()}
    logits = policy(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return masked_cross_entropy(logits, batch["labels"])


def step_metrics(r, beta: float, stats: dict[str, list[float]], ptx: bool) -> dict[str, float]:
    """This process's metrics of a step, named as TRL's PPOTrainer names them."""

    def avg(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    non_score = (-beta * r.kl).sum(1).mean().item()
    metrics = {
        "objective/kl": r.kl.sum(1).mean().item(),
        "objective/scores": r.scores.mean().item(),
        "objective/non_score_reward": non_score,
        "objective/rlhf_reward": r.scores.mean().item() + non_score,
        "objective/entropy": r.entropy.mean().item(),
        "objective/kl_coef": beta,
        "policy/clipfrac": avg(stats["clipfrac"]),
        "policy/approxkl": avg(stats["approxkl"]),
        "loss/policy": avg(stats["pg_loss"]),
        "val/value_loss": avg(stats["value_loss"]),
        "val/clipfrac": avg(stats["vf_clipfrac"]),
        "response/mean_length": r.lengths.float().mean().item(),
        "response/ended_frac": r.ended.float().mean().item(),
    }
    if ptx:
        metrics["ptx/loss"] = avg(stats["ptx"])
    return metrics


def mean_over_processes(accelerator, values: dict[str, float]) -> dict[str, float]:
    if accelerator.num_processes == 1:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=accelerator.device)
    return dict(zip(values, accelerator.reduce(t, "mean").tolist(), strict=True))


# ---------------------------------------------------------------------------------------------
# saving


def save_resumable(accelerator, state_dir: Path, models: Models, optimizer, step, kl_coef):
    if accelerator.is_main_process:
        save_state(
            state_dir,
            model=PolicyAndValue(models.policy, models.value),
            optimizer=optimizer,
            step=step,
            extra={"kl_coef": kl_coef},
        )
    accelerator.wait_for_everyone()


def save_final(accelerator, config: PPOConfig, policy, tokenizer, metrics) -> None:
    out = Path(config.output_dir)
    if accelerator.is_main_process:
        policy.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        meta = {"metrics": metrics, "config": config_to_dict(config)}
        (out / "ppo.json").write_text(json.dumps(meta, indent=2))
        # the finished policy supersedes the resumable state; a rerun then starts afresh
        shutil.rmtree(out / "state", ignore_errors=True)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------------------------------------
# training


def train_ppo(
    config: PPOConfig,
    prompts: list,
    pretrain_texts: list[str] | None = None,
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Optimise the policy on `prompts` (text or message lists); return final metrics + folder.

    pretrain_texts turns on PPO-ptx (γ_ptx = config.ptx_coef). Re-running with the same config
    and output_dir after a crash continues from the state saved in output_dir/state (policy,
    value model, optimizer, β). `callback(step, total, metrics)` runs after every PPO step (before
    its save); `callback.resumed(step)` once after a resume, when it has one (progress.py).
    """
    if not config.reward_model:
        raise ValueError("reward_model: required (a folder written by train_reward)")
    from accelerate.utils import set_seed

    accelerator = accelerator_for(config.device)
    rank, world = accelerator.process_index, accelerator.num_processes
    # device_specific: process i seeds seed + i, so processes sample different responses
    # (process 0, and a single process, seeds `seed` itself)
    set_seed(config.seed, device_specific=True)
    state_dir = Path(config.output_dir) / "state"

    tokenizer = load_tokenizer(resolve_model(config.policy))
    models = load_models(config, accelerator.device)
    params, optimizer = make_optimizer(accelerator, config, models)
    kl_ctl = kl_controller(config)
    # encoded as SFT, the reward model and generation encode them (bos where the tokenizer
    # wants one); a long prompt keeps its end, where the question is
    encoded_prompts = [
        encode_prompt(tokenizer, prompt_to_messages(p))[-config.max_prompt_length :]
        for p in prompts
    ]
    ptx = encode_pretrain(tokenizer, pretrain_texts or [], config.ptx_max_length)
    encoded_prompts, watch_prompts = watch.held_out(
        encoded_prompts, config.watch_prompts, config.seed
    )
    look = watcher(config, models, watch_prompts, tokenizer, accelerator.device)
    sft_look = look(models.ref) if look else None
    history: list[dict[str, float]] = []  # the looks so far (watch/* and the step's metrics)
    alarms: list[dict[str, Any]] = []
    stopped = None

    start = resume(accelerator, state_dir, models, optimizer, kl_ctl, config.steps, callback)
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)
    B = config.rollouts_per_step
    metrics: dict[str, float] = {}
    for step in range(start, config.steps):
        t0 = time.perf_counter()
        # everything random in a step (prompts, pretraining texts, samples, mini-batch order)
        # depends on (seed, step, process) only: a resumed run continues as the uninterrupted
        # one would, and processes sample different rollouts
        step_seed = config.seed * 100003 + step + rank * 7_919_000_003
        rng = random.Random(step_seed)
        torch.manual_seed(step_seed)
        batch = [encoded_prompts[rng.randrange(len(encoded_prompts))] for _ in range(B)]

        beta = kl_ctl.value
        r = rollout(
            config, batch, models.policy, models.ref, models.value, models.reward, beta, tokenizer
        )
        stats = ppo_epochs(
            config, r, models, optimizer, params, accelerator, ptx, rng, tokenizer.pad_token_id
        )
        metrics = mean_over_processes(accelerator, step_metrics(r, beta, stats, bool(ptx)))
        metrics["time/step_s"] = time.perf_counter() - t0
        # β moves on the KL of all processes' rollouts, so every process keeps the same β
        kl_ctl.update(metrics["objective/kl"], B * world)
        done = step + 1
        if look and (done % config.watch_every == 0 or done == config.steps):
            metrics |= watch.watch_metrics(look(models.policy), sft_look)
            history.append(metrics)
        watch.raise_alarms(done, metrics, history, alarms, config)
        reason = watch.stop_reason(metrics, history, config)
        if reason:
            stopped = {"step": done, "reason": reason}
            metrics["watch/stopped_at_step"] = float(done)
        # reported before the save: a caller that records steps has every step up to a saved
        # one, so a resumed run's series has no gap
        if callback is not None:
            callback(done, config.steps, metrics)
        if stopped:
            break  # a stop rule fired: the policy as it is now is the result
        # the last step is followed by the final save; the main process decides (the clock
        # could tell the processes different things)
        if done < config.steps and main_process_decides(accelerator, schedule.due(done)):
            save_resumable(accelerator, state_dir, models, optimizer, done, kl_ctl.value)
            schedule.saved()

    save_final(accelerator, config, models.policy, tokenizer, metrics)
    out = str(Path(config.output_dir))
    return {
        "output_dir": out,
        "steps": config.steps,
        "resumed_from_step": start,
        "metrics": metrics,
        "alarms": alarms,
        "stopped_early": stopped,
    }


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(PPOConfig, argv, required=("prompts_file",))
    rows = read_rows(config.prompts_file)
    prompts = [r if isinstance(r, (str, list)) else r["prompt"] for r in rows]
    pretrain = None
    if config.pretrain_file:
        pretrain = [r if isinstance(r, str) else r["text"] for r in read_rows(config.pretrain_file)]
    result = train_ppo(config, prompts, pretrain, callback=progress.print_progress)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
