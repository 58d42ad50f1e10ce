"""Synthetic preference data with a known rule, for tests, benchmarks and demos.

The rule: a response is better the more times it contains the marker word ("great"); equal counts
tie. Filler lengths are random, so length alone does not reveal the rank: a reward model has to
count markers. A tiny model learns the rule in a few dozen steps, which is what lets CPU tests
assert that reward modelling and PPO actually learn.
"""

from __future__ import annotations

import random

MARKER = "great"
FILLER = "the a of and to in is it that was for on are with as be at by this from or".split()
TOPICS = "cats dogs rain music trains bread rivers chess paint tea snow bikes maps glass".split()


def response_with(rng: random.Random, markers: int, min_words: int = 3, max_words: int = 7) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(min_words, max_words))]
    for _ in range(markers):
        words.insert(rng.randint(0, len(words)), MARKER)
    return " ".join(words)


def prompt_for(rng: random.Random) -> str:
    return f"Tell me about {rng.choice(TOPICS)}."


def ranks_from_counts(counts: list[int]) -> list[int]:
    """1 = most markers; equal counts share a rank (competition ranking: 1, 2, 2, 4)."""
    return [1 + sum(other > c for other in counts) for c in counts]


def synthetic_rankings(
    n: int, k: int, seed: int = 0, ties: bool = False, max_words: int = 7
) -> list[dict]:
    """n grouped rows {prompt, responses, ranks} of k responses each.

    Without ties the k marker counts are distinct (drawn from 0..k); with ties they are drawn with
    replacement from 0..k-1, so some pairs are ties (and give no comparison).
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        counts = [rng.randrange(k) for _ in range(k)] if ties else rng.sample(range(k + 1), k)
        responses = [response_with(rng, c, max_words=max_words) for c in counts]
        rows.append(
            {"prompt": prompt_for(rng), "responses": responses, "ranks": ranks_from_counts(counts)}
        )
    return rows


def synthetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """n TRL-style rows {prompt, chosen, rejected}; chosen has more markers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        lo, hi = sorted(rng.sample(range(4), 2))
        rows.append(
            {
                "prompt": prompt_for(rng),
                "chosen": response_with(rng, hi),
                "rejected": response_with(rng, lo),
            }
        )
    return rows


def synthetic_demonstrations(n: int, seed: int = 0, max_markers: int = 2) -> list[dict]:
    """n {prompt, completion} rows: filler text with 0..max_markers markers (an SFT set that puts
    some probability on the marker, so PPO has something to reinforce)."""
    rng = random.Random(seed)
    return [
        {"prompt": prompt_for(rng), "completion": response_with(rng, rng.randint(0, max_markers))}
        for _ in range(n)
    ]


def count_markers(text: str) -> int:
    return text.split().count(MARKER)
