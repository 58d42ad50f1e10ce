"""Best-of-n (rejection sampling): sample n responses per prompt, keep the one the reward model
scores highest. The kept answers are demonstrations for another SFT round (the iterated
rejection-sampling recipe of Llama 2) and a policy's answers to compare in an evaluation.

    python -m training.engine.best_of_n --model var/artifacts/ppo-1 \
        --reward_model var/artifacts/rm-1 --prompts_file prompts.jsonl --n 8 --out_file best.jsonl

Each kept row is {"prompt", "response", "score", "n", "scores", "model", "sampling"}: the
scores of all n samples travel with it, so a reader sees how far the kept one stood out. The
sampling is generate's (resumable with an output_dir); scoring is the reward model's `score`.
"""

from __future__ import annotations

import json
from typing import Any

from training.engine import progress
from training.engine.best_of_n_config import BestOfNConfig
from training.engine.config import parse_cli
from training.engine.data import read_rows
from training.engine.generate import Callback, generate_responses, prompt_of
from training.engine.reward import score_responses


def keep_best(rows: list[dict[str, Any]], scores: list[float], n: int) -> list[dict[str, Any]]:
    """The best of each run of n consecutive rows (one prompt's samples), with all n scores.
    A tie keeps the first sample, so the choice is reproducible."""
    kept = []
    for start in range(0, len(rows), n):
        group = scores[start : start + n]
        best = start + max(range(len(group)), key=lambda i: (group[i], -i))
        row = {key: value for key, value in rows[best].items() if key != "selection"}
        kept.append({**row, "score": scores[best], "n": len(group), "scores": group})
    return kept


def best_of_n(
    config: BestOfNConfig, prompts: list, callback: Callback | None = None
) -> list[dict[str, Any]]:
    """One kept row per prompt, in prompt order."""
    sampling = config.sampling()
    if not config.model_name:
        sampling.model_name = f"best-of-{config.n}({config.model})"
    rows = generate_responses(sampling, prompts, callback)
    scores = score_responses(
        config.reward_model,
        [row["prompt"] for row in rows],
        [row["response"] for row in rows],
        batch_size=config.score_batch_size,
        max_length=config.max_length,
        poll=progress.poller(callback),
    )
    return keep_best(rows, scores, config.n)


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(BestOfNConfig, argv, required=("prompts_file", "out_file"))
    prompts = [prompt_of(row) for row in read_rows(config.prompts_file)]
    kept = best_of_n(config, prompts, callback=progress.print_progress)
    with open(config.out_file, "w") as out:
        for row in kept:
            out.write(json.dumps(row) + "\n")
    print(f"{len(kept)} rows, best of {config.n}, to {config.out_file}")


if __name__ == "__main__":
    main()
