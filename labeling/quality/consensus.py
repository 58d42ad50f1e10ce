"""One consensus ranking per task from several labelers' rankings, and a task's agreement.

Consensus is Copeland's method. For every pair of responses, the labelers who ordered the
pair strictly vote; the majority side wins the pair (an even vote or no vote: nobody wins).
A response's Copeland score is pairs won minus pairs lost.

Tie rule: responses with equal Copeland scores are separated by their net pairwise votes
(sum over the other responses of labelers preferring it minus labelers preferring the
other; with full rankings this is the Borda count). Responses equal on both stay tied and
share a rank. Ranks are competition style: 1, 2, 2, 4 (1 = best, equal = tie), so they
stay within 1..K as exports require.

Copeland rather than ranked pairs: with the 2-5 labelers a task has, majority cycles are
rare, Copeland's scores are explainable in one line, and its ties are honest ties instead
of an arbitrary lock-in order.
"""

import numpy as np

from labeling.quality import agreement_stats as stats


def _matrix(rank_lists) -> np.ndarray:
    if not rank_lists:
        raise ValueError("rank_lists: at least one ranking is needed")
    k = len(rank_lists[0])
    if any(len(ranks) != k for ranks in rank_lists):
        raise ValueError("rank_lists: every ranking must rank the same responses")
    if not 1 <= k <= stats.MAX_K:
        raise ValueError(f"rank_lists: K={k} is outside 1..{stats.MAX_K}")
    return np.asarray(rank_lists, dtype=float)


def pairwise_votes(rank_lists) -> np.ndarray:
    """votes[a, b] = labelers who ranked response a strictly above (better than) b."""
    ranks = _matrix(rank_lists)
    return (ranks[:, :, None] < ranks[:, None, :]).sum(axis=0)


def competition_ranks(keys) -> list[int]:
    """1 + the number of entries with a strictly better (larger) key tuple."""
    return [1 + sum(other > key for other in keys) for key in keys]


def consensus_ranks(rank_lists: list[list[int]]) -> list[int]:
    """Copeland consensus (see the module docstring), one rank per response."""
    votes = pairwise_votes(rank_lists)
    margin = votes - votes.T
    copeland = (margin > 0).sum(axis=1) - (margin < 0).sum(axis=1)
    net_votes = margin.sum(axis=1)
    return competition_ranks(list(zip(copeland.tolist(), net_votes.tolist(), strict=True)))


def task_agreement(rank_lists) -> float:
    """Pairwise agreement among one task's rankings: of the (labeler pair, response pair)
    combinations both labelers ordered strictly, the share ordered the same way.

    NaN when nothing is comparable (one ranking, or ties everywhere), so a ``min_agreement``
    filter (``nan < x`` is False) keeps such tasks rather than judging them on no evidence.
    """
    ranks = _matrix(rank_lists)
    rs = stats.RankingSet(
        task=np.zeros(len(ranks), dtype=np.int64),
        labeler=np.arange(len(ranks)),
        ranks=stats._pad(ranks.tolist()),
    )
    return stats.pairwise_agreement(stats.pair_counts(rs))
