"""Inter-labeler agreement statistics over plain arrays (no Django).

The Django side (``agreement.py``) loads a project's rankings into a ``RankingSet``;
everything here is vectorised numpy so 100,000 rankings take well under a second.

Layout: one row per ranking, nine columns (the largest K). Column ``c`` of a row is the
``c``-th response of the ranking's task (the same column means the same response in every
ranking of that task); a missing response is NaN. Ranks follow the export convention,
1 = best and equal ranks = tie.

Definitions (the ones the tests compute by hand):
- A *ranking pair* is two rankings of the same task by different labelers; tasks with a
  single ranking have none and drop out of every inter-labeler statistic.
- For a ranking pair and a response pair both contain, the labelers *agree* when both order
  the responses strictly and the same way, *disagree* when both order them strictly and
  opposite ways, and the pair is *tied* when either labeler gave the two responses the same
  rank.
- ``pairwise_agreement`` = agree / (agree + disagree), summed over every ranking pair;
  ``tie_rate`` = tied / (agree + disagree + tied): the share of compared response pairs that
  the agreement leaves out because of a tie.
- ``kendall_tau_b`` = mean over ranking pairs of (agree - disagree) / sqrt(n1 * n2), n1 and n2
  the response pairs each labeler ordered strictly (scipy's tau-b); pairs where a labeler tied
  everything are undefined and skipped.
"""

from dataclasses import dataclass, field

import numpy as np

MAX_K = 9
# The 36 position pairs (a, b), a < b, of a row of nine.
PAIR_A, PAIR_B = np.triu_indices(MAX_K, k=1)
# Cap on the bootstrap's random index matrix (elements), so memory stays bounded.
_BOOT_CHUNK_ELEMENTS = 4_000_000


@dataclass
class RankingSet:
    task: np.ndarray  # (n,) int: task index
    labeler: np.ndarray  # (n,) int: labeler index
    ranks: np.ndarray  # (n, 9) float: rank per column, NaN = response absent
    likert: np.ndarray | None = None  # (n, 9) float, NaN = no rating
    flags: dict = field(default_factory=dict)  # flag -> (n, 9) float: 1 flagged, 0 not, NaN absent
    gold: np.ndarray | None = None  # (n, 9) float: the task's reference ranks, NaN if not gold

    @classmethod
    def from_lists(cls, tasks, labelers, ranks, likert=None, flags=None, gold=None):
        """Build from Python lists (one entry per ranking); shorter rows are padded with NaN.

        ``flags`` maps a flag name to per-ranking lists of 0/1; ``gold`` is a per-ranking list
        of reference ranks or None.
        """
        return cls(
            task=np.asarray(tasks, dtype=np.int64),
            labeler=np.asarray(labelers, dtype=np.int64),
            ranks=_pad(ranks),
            likert=None if likert is None else _pad(likert),
            flags={name: _pad(rows) for name, rows in (flags or {}).items()},
            gold=None if gold is None else _pad([row or [] for row in gold]),
        )

    def __len__(self):
        return len(self.task)


def _pad(rows) -> np.ndarray:
    out = np.full((len(rows), MAX_K), np.nan)
    for i, row in enumerate(rows):
        values = [np.nan if v is None else v for v in row]
        out[i, : len(values)] = values
    return out


# --- ranking pairs -----------------------------------------------------------------------


def ranking_pairs(task: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (i, j) of every two rankings of the same task.

    Rows sorted by task put a task's rankings next to each other; rows d apart belong to the
    same task exactly when the task has more than d rankings, so d = 1, 2, ... enumerates all
    pairs in O(n * overlap) without a Python loop over tasks.
    """
    order = np.argsort(task, kind="stable")
    sorted_task = task[order]
    first, second = [], []
    d = 1
    while d < len(order):
        same = sorted_task[:-d] == sorted_task[d:]
        if not same.any():
            break
        first.append(order[:-d][same])
        second.append(order[d:][same])
        d += 1
    if not first:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(first), np.concatenate(second)


def pair_signs(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(signs, present), both (n, 36): sign(rank_a - rank_b) per position pair (0 = tie or
    absent), and whether both responses are there. Ranks fit int8, which keeps this fast."""
    small = np.nan_to_num(ranks, nan=0.0).astype(np.int8)
    a, b = small[:, PAIR_A], small[:, PAIR_B]
    present = (a > 0) & (b > 0)
    signs = np.sign(a - b) * present
    return signs.astype(np.int8), present


@dataclass
class PairCounts:
    """Per ranking pair (i, j): response pairs agreed, disagreed, tied, and strictly ordered
    by each side."""

    i: np.ndarray
    j: np.ndarray
    agree: np.ndarray
    disagree: np.ndarray
    tied: np.ndarray
    strict_i: np.ndarray
    strict_j: np.ndarray


def compare_rows(signs_i, present_i, signs_j, present_j):
    """Agree/disagree/tied/strict counts between aligned rows of signs."""
    both = present_i & present_j
    product = signs_i.astype(np.int16) * signs_j  # 0 where absent (sign 0) or tied
    agree = (product > 0).sum(axis=1)
    disagree = (product < 0).sum(axis=1)
    tied = (both & (product == 0)).sum(axis=1)
    strict_i = (both & (signs_i != 0)).sum(axis=1)
    strict_j = (both & (signs_j != 0)).sum(axis=1)
    return agree, disagree, tied, strict_i, strict_j


def pair_counts(rs: RankingSet) -> PairCounts:
    i, j = ranking_pairs(rs.task)
    signs, present = pair_signs(rs.ranks)
    counts = compare_rows(signs[i], present[i], signs[j], present[j])
    return PairCounts(i, j, *counts)


def _ratio(num, den) -> float:
    return float(num) / float(den) if den else float("nan")


def pairwise_agreement(pc: PairCounts) -> float:
    return _ratio(pc.agree.sum(), pc.agree.sum() + pc.disagree.sum())


def tie_rate(pc: PairCounts) -> float:
    compared = pc.agree.sum() + pc.disagree.sum() + pc.tied.sum()
    return _ratio(pc.tied.sum(), compared)


def kendall_tau_b(pc: PairCounts) -> float:
    """Mean tau-b over ranking pairs (see the module docstring)."""
    denominator = np.sqrt(pc.strict_i.astype(float) * pc.strict_j)
    defined = denominator > 0
    if not defined.any():
        return float("nan")
    taus = (pc.agree[defined] - pc.disagree[defined]) / denominator[defined]
    return float(taus.mean())


def per_task_counts(rs: RankingSet, pc: PairCounts) -> tuple[np.ndarray, np.ndarray]:
    """(agree, strict) summed per task that has at least one ranking pair."""
    tasks, index = np.unique(rs.task[pc.i], return_inverse=True)
    agree = np.bincount(index, weights=pc.agree, minlength=len(tasks))
    strict = np.bincount(index, weights=pc.agree + pc.disagree, minlength=len(tasks))
    return agree, strict


def bootstrap_ratio_ci(num, den, *, n_boot=1000, level=0.95, seed=0) -> tuple[float, float]:
    """Percentile bootstrap CI of sum(num) / sum(den), resampling the entries (tasks).

    Tasks, not response pairs, are resampled because the pairs of one task share a prompt
    and labelers, so they are not independent. The seed is fixed so a cached and a fresh
    computation give the same interval.
    """
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    n = len(num)
    if n == 0 or den.sum() == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    ratios = np.empty(n_boot)
    chunk = max(1, _BOOT_CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        picks = rng.integers(0, n, size=(stop - start, n))
        top, bottom = num[picks].sum(axis=1), den[picks].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[start:stop] = top / bottom
    ratios = ratios[~np.isnan(ratios)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


# --- Krippendorff's alpha and Fleiss' kappa -----------------------------------------------


def unit_value_counts(rs: RankingSet, values: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """(units, len(domain)) counts: units are (task, column) cells, values looked up in the
    sorted ``domain``; NaN cells are missing. A unit's index is simply task * 9 + column, so
    units no ranking uses are all-zero rows, which every statistic ignores."""
    rows, cols = np.nonzero(~np.isnan(values))
    n_units = (int(rs.task.max()) + 1) * MAX_K if len(rs) else 0
    if len(rows) == 0:
        return np.zeros((0, len(domain)), dtype=np.int64)
    units = rs.task[rows] * MAX_K + cols
    value_index = np.searchsorted(domain, values[rows, cols])
    flat = np.bincount(units * len(domain) + value_index, minlength=n_units * len(domain))
    return flat.reshape(n_units, len(domain))


def _distances(domain: np.ndarray, n_v: np.ndarray, level: str) -> np.ndarray:
    if level == "nominal":
        return (domain[:, None] != domain[None, :]).astype(float)
    if level == "interval":
        return (domain[:, None] - domain[None, :]).astype(float) ** 2
    if level == "ordinal":
        # Krippendorff's ordinal metric: (sum of n_g for g from c to k, minus (n_c + n_k) / 2)^2.
        cumulative = np.concatenate([[0.0], np.cumsum(n_v)])
        low = np.minimum.outer(np.arange(len(domain)), np.arange(len(domain)))
        high = np.maximum.outer(np.arange(len(domain)), np.arange(len(domain)))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (n_v[low] + n_v[high]) / 2) ** 2
    raise ValueError(f"level: unknown level of measurement {level!r}")


def krippendorff_alpha(counts: np.ndarray, domain, level: str) -> float:
    """Alpha from a (units, values) count matrix, the same arithmetic as the ``krippendorff``
    package: coincidences o, expected coincidences e, alpha = 1 - sum(o d) / sum(e d).

    NaN when no unit has two values or every pairable value is the same (no variation).
    """
    domain = np.asarray(domain, dtype=float)
    counts = np.asarray(counts, dtype=float)
    n_u = counts.sum(axis=1)
    pairable = n_u >= 2
    if not pairable.any():
        return float("nan")
    c = counts[pairable]
    weighted = c / (n_u[pairable] - 1)[:, None]
    o = weighted.T @ c - np.diag(weighted.sum(axis=0))
    n_v = o.sum(axis=0)
    n = n_v.sum()
    e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1)
    d = _distances(domain, n_v, level)
    expected = (e * d).sum()
    if expected == 0:
        return float("nan")
    return float(1 - (o * d).sum() / expected)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa over units with at least two ratings (raters per unit may vary)."""
    counts = np.asarray(counts, dtype=float)
    n_u = counts.sum(axis=1)
    keep = n_u >= 2
    if not keep.any():
        return float("nan")
    c, n_u = counts[keep], n_u[keep]
    observed = ((c**2).sum(axis=1) - n_u) / (n_u * (n_u - 1))
    shares = c.sum(axis=0) / n_u.sum()
    expected = (shares**2).sum()
    if expected == 1:
        return float("nan")
    return float((observed.mean() - expected) / (1 - expected))


def rank_alpha(rs: RankingSet) -> float:
    """Ordinal alpha with units (task, response) and values = rank."""
    domain = np.arange(1, MAX_K + 1, dtype=float)
    return krippendorff_alpha(unit_value_counts(rs, rs.ranks, domain), domain, "ordinal")


def likert_alpha(rs: RankingSet, likert_max: int = 7) -> float:
    if rs.likert is None:
        return float("nan")
    domain = np.arange(1, likert_max + 1, dtype=float)
    return krippendorff_alpha(unit_value_counts(rs, rs.likert, domain), domain, "interval")


def flag_stats(rs: RankingSet) -> dict:
    """Per flag: nominal alpha, Fleiss' kappa and the share of rated items carrying it.

    All flags share the items, so the units are found once and only units with two or more
    ratings are counted (the others add nothing to alpha or kappa).
    """
    out = {}
    if not rs.flags:
        return out
    domain = np.array([0.0, 1.0])
    rows, cols = np.nonzero(~np.isnan(next(iter(rs.flags.values()))))
    units, unit_index, sizes = np.unique(
        rs.task[rows] * MAX_K + cols, return_inverse=True, return_counts=True
    )
    pairable = sizes[unit_index] >= 2
    shared_index = np.unique(unit_index[pairable], return_inverse=True)[1]
    n_units = int(shared_index.max()) + 1 if len(shared_index) else 0
    totals = np.bincount(shared_index, minlength=n_units)
    for name, values in rs.flags.items():
        observed = values[rows, cols]
        ones = np.bincount(shared_index, weights=observed[pairable], minlength=n_units)
        counts = np.column_stack([totals - ones, ones])
        out[name] = {
            "alpha": krippendorff_alpha(counts, domain, "nominal"),
            "fleiss_kappa": fleiss_kappa(counts),
            "rate": _ratio(observed.sum(), len(observed)),
        }
    return out


# --- per labeler --------------------------------------------------------------------------


def labeler_agreement(rs: RankingSet, pc: PairCounts, n_labelers: int) -> np.ndarray:
    """Per labeler: agreement with every other labeler on shared tasks (the labeler's own
    rankings are left out of the reference, so this is leave-one-out); NaN without overlap."""
    strict = pc.agree + pc.disagree
    agree = np.bincount(rs.labeler[pc.i], pc.agree, n_labelers) + np.bincount(
        rs.labeler[pc.j], pc.agree, n_labelers
    )
    total = np.bincount(rs.labeler[pc.i], strict, n_labelers) + np.bincount(
        rs.labeler[pc.j], strict, n_labelers
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, agree / np.maximum(total, 1), np.nan)


def labeler_pair_matrix(rs: RankingSet, pc: PairCounts, n_labelers: int):
    """(agreement, strict) matrices between labelers, symmetric; NaN where they share nothing."""
    agree = np.zeros((n_labelers, n_labelers))
    strict = np.zeros((n_labelers, n_labelers))
    li, lj = rs.labeler[pc.i], rs.labeler[pc.j]
    for a, b in ((li, lj), (lj, li)):
        np.add.at(agree, (a, b), pc.agree)
        np.add.at(strict, (a, b), pc.agree + pc.disagree)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(strict > 0, agree / np.maximum(strict, 1), np.nan), strict


def gold_counts(rs: RankingSet) -> tuple[np.ndarray, np.ndarray]:
    """Per ranking: (agree, strict) against the task's gold reference (0, 0 if not gold)."""
    agree = np.zeros(len(rs), dtype=np.int64)
    strict = np.zeros(len(rs), dtype=np.int64)
    if rs.gold is None:
        return agree, strict
    rows = np.nonzero(~np.isnan(rs.gold).all(axis=1))[0]
    signs, present = pair_signs(rs.ranks[rows])
    gold_signs, gold_present = pair_signs(rs.gold[rows])
    a, d, _, _, _ = compare_rows(signs, present, gold_signs, gold_present)
    agree[rows], strict[rows] = a, a + d
    return agree, strict


def labeler_gold_agreement(rs: RankingSet, n_labelers: int) -> np.ndarray:
    agree, strict = gold_counts(rs)
    top = np.bincount(rs.labeler, agree, n_labelers)
    bottom = np.bincount(rs.labeler, strict, n_labelers)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.maximum(bottom, 1), np.nan)


def grouped_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per group index; NaN for empty groups."""
    out = np.full(n_groups, np.nan)
    if len(groups) == 0:
        return out
    order = np.lexsort((values, groups))
    groups, values = groups[order], values[order]
    starts = np.searchsorted(groups, np.arange(n_groups), side="left")
    stops = np.searchsorted(groups, np.arange(n_groups), side="right")
    for g in np.nonzero(stops > starts)[0]:
        out[g] = np.median(values[starts[g] : stops[g]])
    return out


def grouped_ratio(keys: np.ndarray, num: np.ndarray, den: np.ndarray):
    """(distinct keys, sum(num) / sum(den) per key): e.g. agreement per day."""
    unique, index = np.unique(keys, return_inverse=True)
    top = np.bincount(index, num, len(unique))
    bottom = np.bincount(index, den, len(unique))
    with np.errstate(invalid="ignore", divide="ignore"):
        return unique, np.where(bottom > 0, top / np.maximum(bottom, 1), np.nan)


def summary(rs: RankingSet, *, likert_max: int = 7, n_boot: int = 1000) -> dict:
    """The project-level numbers (floats, NaN when undefined)."""
    pc = pair_counts(rs)
    task_agree, task_strict = per_task_counts(rs, pc)
    return {
        "pairwise_agreement": pairwise_agreement(pc),
        "pairwise_agreement_ci": list(bootstrap_ratio_ci(task_agree, task_strict, n_boot=n_boot)),
        "tie_rate": tie_rate(pc),
        "kendall_tau_b": kendall_tau_b(pc),
        "krippendorff_alpha_ordinal": rank_alpha(rs),
        "likert_alpha_interval": likert_alpha(rs, likert_max),
        "flags": flag_stats(rs),
        "n_tasks_with_overlap": len(task_agree),
        "pair_counts": pc,
    }
