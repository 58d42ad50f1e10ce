"""Copeland consensus and per-task agreement on hand-computed cases."""

import math

import pytest

from labeling.quality.consensus import consensus_ranks, pairwise_votes, task_agreement


def test_single_ranking_is_its_own_consensus():
    assert consensus_ranks([[2, 1, 3]]) == [2, 1, 3]
    # A tie stays a tie; ranks become competition style (1, 1, 3).
    assert consensus_ranks([[1, 1, 2]]) == [1, 1, 3]


def test_majority_wins():
    # A = B = 1 2 3 and C = 3 2 1: every pair is won 2-1 by A and B's order.
    assert consensus_ranks([[1, 2, 3], [1, 2, 3], [3, 2, 1]]) == [1, 2, 3]


def test_even_vote_is_a_tie():
    # Pair (0, 1) is split 1-1; both beat responses 2 and 3: Copeland 2, 2, -1, -3 and net
    # votes 4, 4, -2, -6, so 0 and 1 share rank 1.
    assert consensus_ranks([[1, 2, 3, 4], [2, 1, 3, 4]]) == [1, 1, 3, 4]


def test_condorcet_cycle_is_a_three_way_tie():
    # 0 > 1 (2-1), 1 > 2 (2-1), 2 > 0 (2-1): Copeland 0 for all and net votes 0 for all.
    assert consensus_ranks([[1, 2, 3], [2, 3, 1], [3, 1, 2]]) == [1, 1, 1]


def test_copeland_tie_broken_by_net_votes():
    # (0,1) split 2-2; (0,2) 4-0 for 0; (1,2) 3-1 for 1.
    # Copeland: 0 -> +1, 1 -> +1, 2 -> -2. Net votes: 0 -> 0 + 4 = 4, 1 -> 0 + 2 = 2.
    rankings = [[1, 3, 2], [1, 2, 3], [2, 1, 3], [2, 1, 3]]
    votes = pairwise_votes(rankings)
    assert votes[0, 1] == 2 and votes[1, 0] == 2 and votes[0, 2] == 4 and votes[1, 2] == 3
    assert consensus_ranks(rankings) == [1, 2, 3]


def test_k9_consensus():
    base = list(range(1, 10))
    swapped = [2, 1, *base[2:]]
    assert consensus_ranks([base, base, swapped]) == base


def test_task_agreement():
    # Ranking pairs AB agree on 3 of 3, AC and BC on 0 of 3: 3 / 9.
    assert task_agreement([[1, 2, 3], [1, 2, 3], [3, 2, 1]]) == pytest.approx(1 / 3)
    # Ties: (0,1) tied by A, (2,3) tied by B, the other four agree.
    assert task_agreement([[1, 1, 2, 3], [1, 2, 3, 3]]) == 1.0
    assert math.isnan(task_agreement([[1, 2, 3]]))


def test_bad_input():
    with pytest.raises(ValueError):
        consensus_ranks([])
    with pytest.raises(ValueError):
        consensus_ranks([[1, 2], [1, 2, 3]])
