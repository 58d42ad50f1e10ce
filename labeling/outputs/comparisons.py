"""Pairwise comparisons derived from rankings; never stored.

A ranking of K responses without ties gives C(K, 2) ordered pairs; tied responses give
no pair. Ranks follow the export convention: 1 = best, equal ranks = tie.
"""

from collections.abc import Sequence
from math import comb

from labeling.errors import ServiceError


def ordered_pairs(ranks: Sequence[int]) -> list[tuple[int, int]]:
    """(winner index, loser index) for every strictly ordered pair of positions."""
    pairs = []
    for i, rank_i in enumerate(ranks):
        for j, rank_j in enumerate(ranks):
            if rank_i < rank_j:
                pairs.append((i, j))
    return pairs


def pair_count(ranks: Sequence[int]) -> int:
    """len(ordered_pairs(ranks)) without building them: C(K, 2) minus tied pairs."""
    tied = 0
    counts: dict[int, int] = {}
    for rank in ranks:
        counts[rank] = counts.get(rank, 0) + 1
    for count in counts.values():
        tied += comb(count, 2)
    return comb(len(ranks), 2) - tied


class RanksError(ServiceError):
    def __init__(self, message: str):
        super().__init__("ranks", message)


def validate_ranks(ranks: Sequence, k: int, *, allow_ties: bool = True) -> list[int]:
    """Ranks as ints, or RanksError saying what is wrong."""
    if len(ranks) != k:
        raise RanksError(f"expected {k} ranks, got {len(ranks)}")
    clean = []
    for value in ranks:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RanksError(f"{value!r} is not an integer")
        if not 1 <= value <= k:
            raise RanksError(f"{value} is outside 1..{k}")
        clean.append(value)
    if not allow_ties and len(set(clean)) != len(clean):
        raise RanksError("ties are not allowed in this project")
    if len(set(clean)) < 2:
        raise RanksError("every response has the same rank, so nothing is compared")
    return clean
