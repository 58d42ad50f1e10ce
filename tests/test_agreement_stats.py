"""Agreement statistics on hand-computed examples, and a cross-check with ``krippendorff``."""

import math
from math import comb

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from labeling.quality import agreement_stats as stats
from labeling.quality.agreement_stats import RankingSet


def two_labelers(a, b):
    return RankingSet.from_lists(tasks=[0, 0], labelers=[0, 1], ranks=[a, b])


def test_one_swap_of_four():
    # A = 1 2 3 4, B = 1 3 2 4: of the C(4,2) = 6 response pairs only (1, 2) flips.
    pc = stats.pair_counts(two_labelers([1, 2, 3, 4], [1, 3, 2, 4]))
    assert (pc.agree.sum(), pc.disagree.sum(), pc.tied.sum()) == (5, 1, 0)
    assert stats.pairwise_agreement(pc) == pytest.approx(5 / 6)
    # tau-b = (5 - 1) / sqrt(6 * 6) = 4 / 6
    assert stats.kendall_tau_b(pc) == pytest.approx(4 / 6)
    assert stats.tie_rate(pc) == 0


def test_ties_are_reported_separately():
    # A = 1 1 2 3 ties (0, 1); B = 1 2 3 3 ties (2, 3). The other 4 pairs all agree.
    pc = stats.pair_counts(two_labelers([1, 1, 2, 3], [1, 2, 3, 3]))
    assert (pc.agree.sum(), pc.disagree.sum(), pc.tied.sum()) == (4, 0, 2)
    assert stats.pairwise_agreement(pc) == 1.0  # 4 / (4 + 0)
    assert stats.tie_rate(pc) == pytest.approx(2 / 6)
    # tau-b = (4 - 0) / sqrt(5 * 5): each labeler ordered 5 of the 6 pairs strictly.
    assert stats.kendall_tau_b(pc) == pytest.approx(0.8)
    assert stats.kendall_tau_b(pc) == pytest.approx(kendalltau([1, 1, 2, 3], [1, 2, 3, 3])[0])


@pytest.mark.parametrize("k", range(4, 10))
def test_k_from_4_to_9(k):
    identity = list(range(1, k + 1))
    first_two_swapped = [2, 1, *identity[2:]]
    pairs = comb(k, 2)
    pc = stats.pair_counts(two_labelers(identity, first_two_swapped))
    # One of C(K, 2) pairs disagrees.
    assert stats.pairwise_agreement(pc) == pytest.approx((pairs - 1) / pairs)
    assert stats.kendall_tau_b(pc) == pytest.approx((pairs - 2) / pairs)
    reversed_pc = stats.pair_counts(two_labelers(identity, identity[::-1]))
    assert stats.pairwise_agreement(reversed_pc) == 0.0
    assert stats.kendall_tau_b(reversed_pc) == pytest.approx(-1.0)


def test_three_labelers_and_a_single_ranking_task():
    # Task 0: A = B = 1 2 3, C = 3 2 1. Pairs AB: 3 agree; AC, BC: 3 disagree each.
    # Task 1 has one ranking (labeler D, only ranking): it is excluded everywhere.
    rs = RankingSet.from_lists(
        tasks=[0, 0, 0, 1],
        labelers=[0, 1, 2, 3],
        ranks=[[1, 2, 3], [1, 2, 3], [3, 2, 1], [1, 2, 3]],
    )
    pc = stats.pair_counts(rs)
    assert len(pc.i) == 3
    assert stats.pairwise_agreement(pc) == pytest.approx(3 / 9)
    assert stats.kendall_tau_b(pc) == pytest.approx((1 - 1 - 1) / 3)
    # Leave-one-out: A compares with B (3/3) and C (0/3): 3/6; C: 0/6; D: nothing.
    per = stats.labeler_agreement(rs, pc, 4)
    assert per[:3].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert math.isnan(per[3])
    agree, strict = stats.per_task_counts(rs, pc)
    assert agree.tolist() == [3] and strict.tolist() == [9]
    matrix, shared = stats.labeler_pair_matrix(rs, pc, 4)
    assert matrix[0, 1] == 1.0 and matrix[0, 2] == 0.0 and matrix[2, 0] == 0.0
    assert shared[0, 1] == 3 and math.isnan(matrix[0, 3])


def test_no_overlap_gives_nan():
    rs = RankingSet.from_lists(tasks=[0, 1], labelers=[0, 1], ranks=[[1, 2], [2, 1]])
    pc = stats.pair_counts(rs)
    assert math.isnan(stats.pairwise_agreement(pc))
    assert math.isnan(stats.kendall_tau_b(pc))
    assert math.isnan(stats.rank_alpha(rs))
    assert stats.summary(rs)["n_tasks_with_overlap"] == 0


def test_bootstrap_ci():
    # One task: every resample is that task, so the interval is the point.
    assert stats.bootstrap_ratio_ci([5], [6]) == pytest.approx((5 / 6, 5 / 6))
    # Two tasks, 1/1 and 0/1: a resample is 0 (p = 1/4), 1/2 (1/2) or 1 (1/4); the 2.5th and
    # 97.5th percentiles are therefore 0 and 1.
    assert stats.bootstrap_ratio_ci([1, 0], [1, 1]) == (0.0, 1.0)
    assert all(math.isnan(x) for x in stats.bootstrap_ratio_ci([], []))


def test_ordinal_alpha_by_hand():
    # A = 1 2 3, B = 1 3 2. Units: {1,1}, {2,3}, {3,2}. Coincidences o11 = 2, o23 = o32 = 2;
    # n = (2, 2, 2), total 6. Ordinal distances: d12 = d23 = (2+2 - 2)^2 = 4,
    # d13 = (2+2+2 - 2)^2 = 16. Observed sum(o d) = 2*4 + 2*4 = 16.
    # Expected e_ck = n_c n_k / 5 = 0.8 off the diagonal: sum(e d) = 2*0.8*(4 + 16 + 4) = 38.4.
    # alpha = 1 - 16 / 38.4 = 7/12.
    rs = two_labelers([1, 2, 3], [1, 3, 2])
    assert stats.rank_alpha(rs) == pytest.approx(7 / 12)


def test_interval_alpha_by_hand():
    # Likert units {7, 7} and {1, 3}: o77 = 2, o13 = o31 = 1; n1 = n3 = 1, n7 = 2, total 4.
    # Observed sum(o d) = 2 * (3-1)^2 = 8. Expected e = n n / 3 off-diagonal, e77 = 2/3:
    # sum(e d) = 2 * (1/3*4 + 2/3*36 + 2/3*16) = 72. alpha = 1 - 8/72 = 8/9.
    rs = RankingSet.from_lists(
        tasks=[0, 0], labelers=[0, 1], ranks=[[1, 2], [1, 2]], likert=[[7, 1], [7, 3]]
    )
    assert stats.likert_alpha(rs) == pytest.approx(8 / 9)


def test_flag_alpha_kappa_and_rate_by_hand():
    # Flag per unit: {1, 1}, {0, 1}, {0, 0}. o11 = 2, o01 = o10 = 1, o00 = 2; n = (3, 3).
    # Nominal: observed 2, expected 2 * 3*3/5 = 3.6, alpha = 1 - 2/3.6 = 4/9.
    # Fleiss: agreement per unit 1, 0, 1 (mean 2/3); chance 0.5^2 + 0.5^2 = 0.5;
    # kappa = (2/3 - 1/2) / (1/2) = 1/3. Rate: 3 flagged of 6 items.
    rs = RankingSet.from_lists(
        tasks=[0, 0],
        labelers=[0, 1],
        ranks=[[1, 2, 3], [1, 2, 3]],
        flags={"hallucination": [[1, 0, 0], [1, 1, 0]]},
    )
    result = stats.flag_stats(rs)["hallucination"]
    assert result["alpha"] == pytest.approx(4 / 9)
    assert result["fleiss_kappa"] == pytest.approx(1 / 3)
    assert result["rate"] == 0.5


def test_gold_agreement_and_medians():
    # Labeler 0 vs gold 2 1 3 4 on a gold task: 5 of 6 pairs agree; the non-gold ranking
    # counts for nothing. Labeler 1 has no gold ranking.
    rs = RankingSet.from_lists(
        tasks=[0, 1, 2],
        labelers=[0, 0, 1],
        ranks=[[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]],
        gold=[[2, 1, 3, 4], None, None],
    )
    gold = stats.labeler_gold_agreement(rs, 2)
    assert gold[0] == pytest.approx(5 / 6) and math.isnan(gold[1])
    medians = stats.grouped_median(
        np.array([0, 1, 0, 0, 1]), np.array([10.0, 5.0, 30.0, 20.0, 15.0]), 3
    )
    assert medians[:2].tolist() == [20.0, 10.0] and math.isnan(medians[2])


def test_grouped_ratio():
    keys, ratios = stats.grouped_ratio(
        np.array([2, 1, 2]), np.array([1, 0, 3]), np.array([2, 1, 4])
    )
    assert keys.tolist() == [1, 2] and ratios.tolist() == [0.0, pytest.approx(4 / 6)]


def random_campaign(seed):
    rng = np.random.default_rng(seed)
    n_tasks, n_labelers = int(rng.integers(2, 12)), int(rng.integers(2, 6))
    tasks, labelers, ranks, likert, flags = [], [], [], [], []
    for task in range(n_tasks):
        k = int(rng.integers(4, 10))
        for labeler in rng.choice(
            n_labelers, size=int(rng.integers(1, n_labelers + 1)), replace=False
        ):
            tasks.append(task)
            labelers.append(int(labeler))
            # Random ranks with ties: draw a rank per response from 1..k.
            ranks.append(rng.integers(1, k + 1, size=k).tolist())
            likert.append(rng.integers(1, 8, size=k).tolist())
            flags.append((rng.random(k) < 0.3).astype(int).tolist())
    return (
        RankingSet.from_lists(tasks, labelers, ranks, likert=likert, flags={"f": flags}),
        n_labelers,
    )


def reliability_data(rs, values, n_labelers):
    """The krippendorff package's layout: labelers x units (task, column), NaN = missing."""
    n_tasks = int(rs.task.max()) + 1
    data = np.full((n_labelers, n_tasks * stats.MAX_K), np.nan)
    for row in range(len(rs)):
        start = rs.task[row] * stats.MAX_K
        data[rs.labeler[row], start : start + stats.MAX_K] = values[row]
    return data


def package_alpha(data, level):
    observed = data[~np.isnan(data)]
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).any()
    if len(np.unique(observed)) < 2 or not pairable:
        return float("nan")
    return krippendorff.alpha(reliability_data=data, level_of_measurement=level)


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_alpha_matches_krippendorff_package(seed):
    rs, n_labelers = random_campaign(seed)
    rank_data = reliability_data(rs, rs.ranks, n_labelers)
    assert same(stats.rank_alpha(rs), package_alpha(rank_data, "ordinal"))
    likert_data = reliability_data(rs, rs.likert, n_labelers)
    assert same(stats.likert_alpha(rs), package_alpha(likert_data, "interval"))
    flag_data = reliability_data(rs, rs.flags["f"], n_labelers)
    assert same(stats.flag_stats(rs)["f"]["alpha"], package_alpha(flag_data, "nominal"))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_tau_b_matches_scipy(seed):
    rs, _ = random_campaign(seed)
    pc = stats.pair_counts(rs)
    taus = []
    for i, j in zip(pc.i, pc.j, strict=True):
        a, b = rs.ranks[i], rs.ranks[j]
        keep = ~np.isnan(a)
        if len(set(a[keep])) > 1 and len(set(b[keep])) > 1:
            taus.append(kendalltau(a[keep], b[keep])[0])
    expected = float(np.mean(taus)) if taus else float("nan")
    assert same(stats.kendall_tau_b(pc), expected)
