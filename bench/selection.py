"""Active selection against a random choice: the reward model's held-out accuracy per rankings.

    .venv/bin/python bench/selection.py [--pool 1500] [--seed_rankings 100] [--batch 100] \
        [--rounds 4] [--k 4] [--threads 1]

A simulated campaign on the tiny model. The pool holds prompts with K candidate responses each,
from `training/engine/synthetic.py`: a response is better the more "great" markers it holds.
Half the prompts are easy (a few filler words, so the markers stand out), half hard (up to
`--hard_words` filler words around them). Simulated labelers rank by the rule, and swap two
neighbouring ranks with probability `--noise`.

Every policy starts from the same random `--seed_rankings` and the reward model trained on
them. Each round it takes `--batch` more prompts from the rest of the pool:
- `random`: a seeded random sample;
- `rm_spread`: the prompts whose K samples the current reward model scores closest together;
- `rm_disagreement`: the prompts whose samples the current and the previous reward model order
  most differently (the first round has no previous model, so it takes random ones).
The labelers rank those prompts, a reward model is trained from the base model on every
ranking so far, and its pairwise accuracy is measured on a fixed held-out set drawn like the
pool. The figure is held-out accuracy against rankings collected, per policy. Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from training.engine.base_model import resolve_model  # noqa: E402
from training.engine.reward import RewardConfig, score_responses, train_reward  # noqa: E402
from training.engine.selection import choose  # noqa: E402
from training.engine.synthetic import prompt_for, ranks_from_counts, response_with  # noqa: E402

POLICIES = ("random", "rm_spread", "rm_disagreement")


def campaign_pool(n: int, k: int, seed: int, hard_words: tuple[int, int]) -> list[dict]:
    """Prompts with K responses and the marker counts that rank them; half of them hard."""
    rng = random.Random(seed)
    pool = []
    for i in range(n):
        hard = i % 2 == 1
        counts = rng.sample(range(k + 1), k)
        words = hard_words if hard else (2, 5)
        responses = [response_with(rng, c, *words) for c in counts]
        pool.append({"prompt": prompt_for(rng), "responses": responses, "counts": counts})
    return pool


def labelled(item: dict, rng: random.Random, noise: float) -> dict:
    """A simulated labeler's ranking of one prompt: by the rule, a neighbour swap at times."""
    ranks = ranks_from_counts(item["counts"])
    if rng.random() < noise:
        order = sorted(range(len(ranks)), key=lambda i: ranks[i])
        a = rng.randrange(len(order) - 1)
        i, j = order[a], order[a + 1]
        ranks[i], ranks[j] = ranks[j], ranks[i]
    return {"prompt": item["prompt"], "responses": item["responses"], "ranks": ranks}


def train(model, rows, held_out, out: Path, lr: float) -> tuple[str, float]:
    config = RewardConfig(
        model=str(model),
        output_dir=str(out),
        lr=lr,
        rankings_per_batch=4,
        share_prompt=True,
        seed=0,
        save_every=0,
        save_every_minutes=0,
    )
    result = train_reward(config, rows, held_out)
    return str(out), result["metrics"]["eval/accuracy"]


def scores_per_prompt(model_path: str, items: list[dict]) -> list[list[float]]:
    prompts = [item["prompt"] for item in items for _ in item["responses"]]
    texts = [text for item in items for text in item["responses"]]
    flat = score_responses(model_path, prompts, texts, batch_size=64)
    k = len(items[0]["responses"])
    return [flat[i : i + k] for i in range(0, len(flat), k)]


def run_policy(policy, args, model, pool, held_out, workdir: Path) -> list[tuple[int, float]]:
    rng = random.Random(args.seed)
    order = list(range(len(pool)))
    random.Random(args.seed).shuffle(order)
    taken = order[: args.seed_rankings]
    rows = [labelled(pool[i], rng, args.noise) for i in taken]
    current, accuracy = train(model, rows, held_out, workdir / f"{policy}-0", args.lr)
    previous = None
    curve = [(len(rows), accuracy)]
    for round_ in range(1, args.rounds + 1):
        left = [i for i in range(len(pool)) if i not in set(taken)]
        items = [pool[i] for i in left]
        if policy == "random" or (policy == "rm_disagreement" and previous is None):
            picked = choose("random", args.batch, n_prompts=len(left), seed=args.seed + round_)
        elif policy == "rm_spread":
            picked = choose("rm_spread", args.batch, scores_per_prompt(current, items))
        else:
            first = scores_per_prompt(current, items)
            second = scores_per_prompt(previous, items)
            picked = choose("rm_disagreement", args.batch, first, second)
        new = [left[i] for i, _ in picked]
        taken += new
        rows += [labelled(pool[i], rng, args.noise) for i in new]
        previous = current
        current, accuracy = train(model, rows, held_out, workdir / f"{policy}-{round_}", args.lr)
        curve.append((len(rows), accuracy))
        print(f"  {policy}: {len(rows)} rankings, held-out accuracy {accuracy:.3f}", flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--pool", type=int, default=1500)
    parser.add_argument("--held_out", type=int, default=300)
    parser.add_argument("--seed_rankings", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument(
        "--hard_words", type=int, default=30, help="filler words around a hard prompt's markers"
    )
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = resolve_model(args.model)
    hard = (args.hard_words // 2, args.hard_words)
    pool = campaign_pool(args.pool, args.k, args.seed, hard)
    held_rng = random.Random(args.seed + 1)
    held_out = [
        labelled(item, held_rng, 0.0) for item in campaign_pool(args.held_out, args.k, 99, hard)
    ]
    started = time.perf_counter()
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policies.split(","):
            print(f"{policy}:", flush=True)
            curves[policy] = run_policy(policy, args, model, pool, held_out, Path(tmp))
    print(f"\nheld-out pairwise accuracy by rankings collected (K={args.k}, noise {args.noise}, "
          f"{time.perf_counter() - started:.0f} s):")  # fmt: skip
    sizes = [n for n, _ in next(iter(curves.values()))]
    print("| policy | " + " | ".join(f"{n} rankings" for n in sizes) + " |")
    print("| --- |" + " --- |" * len(sizes))
    for policy, curve in curves.items():
        print(f"| {policy} | " + " | ".join(f"{acc:.3f}" for _, acc in curve) + " |")
    if "random" in curves:
        last = curves["random"][-1][1]
        for policy, curve in curves.items():
            if policy != "random":
                print(f"{policy} vs random at {curve[-1][0]} rankings: {curve[-1][1] - last:+.3f}")


if __name__ == "__main__":
    main()
