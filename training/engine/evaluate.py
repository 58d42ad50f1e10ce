"""Evaluate a policy against its parent, judged by a reward model: did RLHF help, by the RM?

    python -m training.engine.evaluate --policy var/artifacts/ppo --parent_model var/artifacts/sft \
        --reward_model var/artifacts/rm --prompts_file validation.jsonl [--out_file rows.jsonl]

Both models answer every prompt (``samples_per_prompt`` times, same sampling settings, same
seed); the reward model scores every answer (bias included, as PPO saw it). Metrics:

    eval/mean_reward_policy   mean reward of the policy's answers
    eval/mean_reward_parent   mean reward of the parent's answers
    eval/reward_gain          their difference (policy − parent)
    eval/win_rate             share of prompts where the policy's (mean) reward is higher;
                              a tie counts half, as in InstructGPT's preference rates
    eval/prompts              how many prompts were compared

The reward model was trained on the labelers' preferences, so this is the RM's view only: a
policy that games the RM wins here and loses with people. It is the cheap check between
rounds, not a replacement for ranking the new samples (the next round does that).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from training.engine import progress
from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.config import parse_cli
from training.engine.data import read_rows
from training.engine.evaluate_config import EvaluateConfig
from training.engine.generate import (
    load_rows_state,
    prompt_of,
    sample_responses,
    save_rows_state,
)
from training.engine.reward import pick_device, score_responses

Callback = Any  # callback(step: int, total_steps: int, metrics: dict[str, float]); see progress.py


def answers(
    config: EvaluateConfig, name: str, model_path: str, prompts: list, step, poll
) -> list[list[str]]:
    """``samples_per_prompt`` answers per prompt from one model, batch by batch; with an
    output_dir, finished batches are kept in output_dir/state/<name> and not sampled again
    by a rerun. The model is freed after."""
    size = config.batch_size
    total = (len(prompts) + size - 1) // size
    state_dir = Path(config.output_dir) / "state" / name if config.output_dir else None
    fields = ("samples_per_prompt", "temperature", "top_p", "max_new_tokens", "batch_size")
    settings = {key: getattr(config, key) for key in (*fields, "seed", "dtype")}
    fp = hashlib.sha256(
        json.dumps({"model": model_path, "prompts": prompts, **settings}, default=str).encode()
    ).hexdigest()
    start, rows = load_rows_state(state_dir, fp) if state_dir is not None else (0, [])
    for batch in range(start):
        step(batch + 1)  # batches done before: counted, not sampled again
    if start == total:
        return [row["answers"] for row in rows]
    device = pick_device(config.device)
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.type == "cuda" else "float32"
    tokenizer = load_tokenizer(model_path)
    model = load_causal_lm(model_path, dtype=dtype).to(device)
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)
    pending: list[dict] = []
    for batch in range(start, total):
        if poll is not None:
            poll()
        # the same seed per batch for both models: the difference is the models', not the
        # draw's, and a resumed run samples what an uninterrupted one would have
        torch.manual_seed(config.seed * 1_000_003 + batch)
        out = sample_responses(
            model,
            tokenizer,
            prompts[batch * size : (batch + 1) * size],
            k=config.samples_per_prompt,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=None,
            max_new_tokens=config.max_new_tokens,
            batch_size=size,
        )
        pending += [{"answers": group} for group in out]
        step(batch + 1)
        if state_dir is not None and batch + 1 < total and schedule.due(batch + 1):
            save_rows_state(state_dir, pending, batch + 1, fp)
            rows += pending
            pending = []
            schedule.saved()
    del model
    return [row["answers"] for row in rows + pending]


def win_rate(policy: list[float], parent: list[float]) -> float:
    """Share of prompts where the policy's reward is higher; ties count half."""
    wins = sum(
        1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(policy, parent, strict=True)
    )
    return wins / max(len(policy), 1)


def evaluate_policy(
    config: EvaluateConfig,
    prompts: list[str | list[dict]],
    callback: Callback | None = None,
) -> dict[str, Any]:
    """Sample from the policy and its parent, score both with the reward model; returns
    ``{"output_dir", "metrics", "rows"}``. ``callback(step, total, metrics)`` after each
    generation batch and after scoring; ``callback.poll()`` before each batch."""
    if not config.parent_model or not config.reward_model:
        raise ValueError("parent_model and reward_model are both needed")
    batches = (len(prompts) + config.batch_size - 1) // config.batch_size
    total = 2 * batches + 1  # both models' generation batches, then the scoring

    def stepper(offset: int):
        def step(batch: int) -> None:
            if callback is not None:
                callback(offset + batch, total, {})

        return step

    poll = progress.poller(callback)
    texts = {
        "policy": answers(config, "policy", config.policy, prompts, stepper(0), poll),
        "parent": answers(config, "parent", config.parent_model, prompts, stepper(batches), poll),
    }
    n = config.samples_per_prompt
    flat_prompts = [p for p in prompts for _ in range(n)]
    # one reward-model load for both: the policy's answers, then the parent's
    answered = [t for name in ("policy", "parent") for group in texts[name] for t in group]
    scores = score_responses(
        config.reward_model,
        flat_prompts * 2,
        answered,
        batch_size=config.batch_size,
        max_length=config.max_length,
        device=config.device,
        poll=poll,
    )
    half = len(flat_prompts)
    rewards = {
        name: [sum(part[i : i + n]) / n for i in range(0, half, n)]
        for name, part in (("policy", scores[:half]), ("parent", scores[half:]))
    }
    policy, parent = rewards["policy"], rewards["parent"]
    mean_policy = sum(policy) / max(len(policy), 1)
    mean_parent = sum(parent) / max(len(parent), 1)
    metrics = {
        "eval/mean_reward_policy": mean_policy,
        "eval/mean_reward_parent": mean_parent,
        "eval/reward_gain": mean_policy - mean_parent,
        "eval/win_rate": win_rate(policy, parent),
        "eval/prompts": float(len(prompts)),
    }
    if callback is not None:
        callback(total, total, metrics)
    rows = [
        {
            "prompt": prompt,
            "policy": texts["policy"][i],
            "parent": texts["parent"][i],
            "reward_policy": policy[i],
            "reward_parent": parent[i],
        }
        for i, prompt in enumerate(prompts)
    ]
    if config.output_dir:
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_rows(out / "samples.jsonl", rows)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        shutil.rmtree(out / "state", ignore_errors=True)  # the samples supersede the state
    return {"output_dir": config.output_dir, "metrics": metrics, "rows": rows}


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(
        EvaluateConfig, argv, required=("prompts_file", "parent_model", "reward_model")
    )
    prompts = [prompt_of(row) for row in read_rows(config.prompts_file)]
    result = evaluate_policy(config, prompts, callback=progress.print_progress)
    if config.out_file:
        write_rows(Path(config.out_file), result["rows"])
    print(json.dumps({"out_file": config.out_file, "metrics": result["metrics"]}, indent=2))


if __name__ == "__main__":
    main()
