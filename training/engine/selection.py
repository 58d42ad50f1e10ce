"""Active selection: which prompts are worth a labeler's time, judged by reward models.

A generate job samples K responses for every prompt of its pool, then keeps the prompts where
the current reward model is least sure, instead of a random sample:

- ``rm_spread``: the reward model's scores of a prompt's K samples lie close together, so it
  can barely tell them apart; the smallest spread (max − min) is chosen first.
- ``rm_disagreement``: two reward-model checkpoints order the K samples differently; the
  share of sample pairs they order oppositely is the score, the largest first.
- ``random``: a seeded random sample, scored nothing.

Pure functions over plain lists (no torch), each with a unit test against hand numbers.
"""

from __future__ import annotations

import random
from itertools import combinations

POLICIES = ("random", "rm_spread", "rm_disagreement")


def reward_spread(rewards: list[float]) -> float:
    """How far apart the reward model puts a prompt's samples: max − min."""
    return max(rewards) - min(rewards)


def ranking_disagreement(a: list[float], b: list[float]) -> float:
    """The share of sample pairs that two reward models order oppositely (a tie under either
    counts half): 0 = same order, 1 = reversed."""
    pairs = list(combinations(range(len(a)), 2))
    if not pairs:
        return 0.0
    total = 0.0
    for i, j in pairs:
        product = (a[i] - a[j]) * (b[i] - b[j])
        total += 1.0 if product < 0 else 0.5 if product == 0 else 0.0
    return total / len(pairs)


def choose(
    policy: str,
    n: int,
    rewards: list[list[float]] | None = None,
    second: list[list[float]] | None = None,
    *,
    n_prompts: int | None = None,
    seed: int = 0,
) -> list[tuple[int, float | None]]:
    """(prompt index, score) of the ``n`` prompts to keep, in the order chosen.

    ``rewards[i]``: the reward model's scores of prompt i's samples (``second``: a second
    model's, for ``rm_disagreement``). ``random`` needs only ``n_prompts``. Ties keep prompt
    order, so a choice is reproducible.
    """
    if policy == "random":
        count = n_prompts if n_prompts is not None else len(rewards or [])
        picked = random.Random(seed).sample(range(count), min(n, count))
        return [(i, None) for i in picked]
    if policy == "rm_spread":
        scores = [reward_spread(r) for r in rewards]
        order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    elif policy == "rm_disagreement":
        scores = [ranking_disagreement(a, b) for a, b in zip(rewards, second, strict=True)]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    else:
        raise ValueError(f"selection: {policy!r} is not one of {', '.join(POLICIES)}")
    return [(i, scores[i]) for i in order[:n]]
