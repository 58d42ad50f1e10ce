"""The statistics of a human evaluation: pairwise judgments of models in, a report out.

A judgment compares two models' answers to one prompt; its winner is "model_a", "model_b" or
"tie" (Chatbot Arena's convention). Everywhere here a tie is half a win to each side.
The report gives each model its win rate against a baseline and its Bradley–Terry strength
(natural log-odds, the baseline at 0), each with a 95 % bootstrap interval over prompts.

No Django here: plain tuples and numpy, so a notebook or a test can use it as is.
"""

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from itertools import combinations
from typing import NamedTuple

import numpy as np

WINNERS = ("model_a", "model_b", "tie")
_SCORE = {"model_a": 1.0, "tie": 0.5, "model_b": 0.0}  # model_a's share of the win


class Judgment(NamedTuple):
    prompt: Hashable
    model_a: str
    model_b: str
    winner: str  # one of WINNERS
    labeler: str | None = None
    category: str | None = None


def judgments_from_ranking(prompt, models, ranks, labeler=None, category=None) -> list[Judgment]:
    """The C(M, 2) pairwise judgments of one ranking of M answers (rank 1 = best; equal
    ranks are a tie), in the order of ``itertools.combinations(models, 2)``."""
    if len(models) != len(ranks):
        raise ValueError(f"{len(models)} models but {len(ranks)} ranks")
    pairs = combinations(zip(models, ranks, strict=True), 2)
    return [
        Judgment(prompt, a, b, _winner(ra, rb), labeler, category) for (a, ra), (b, rb) in pairs
    ]


def _winner(rank_a, rank_b) -> str:
    return "tie" if rank_a == rank_b else ("model_a" if rank_a < rank_b else "model_b")


# ----------------------------------------------------------------------------- counting


def _rows(judgments: Sequence[Judgment], baseline: str):
    """The models (the baseline first, index 0, then the others sorted) and the judgments as
    arrays (prompt index, winner, loser, weight): a win is one row of weight 1, a tie two
    rows of weight ½, one each way. A model judged against itself says nothing about
    strengths, so such judgments are left out."""
    models = [
        baseline,
        *sorted({m for j in judgments for m in (j.model_a, j.model_b)} - {baseline}),
    ]
    index = {m: i for i, m in enumerate(models)}
    prompts = {p: i for i, p in enumerate(dict.fromkeys(j.prompt for j in judgments))}
    rows = []
    for j in judgments:
        if j.winner not in _SCORE:
            raise ValueError(f"winner must be one of {WINNERS}, not {j.winner!r}")
        if j.model_a == j.model_b:
            continue
        p, a, b = prompts[j.prompt], index[j.model_a], index[j.model_b]
        if j.winner == "tie":
            rows += [(p, a, b, 0.5), (p, b, a, 0.5)]
        else:
            rows.append((p, a, b, 1.0) if j.winner == "model_a" else (p, b, a, 1.0))
    prompt, win, lose, weight = np.array(rows, dtype=float).reshape(-1, 4).T
    return models, prompt.astype(int), win.astype(int), lose.astype(int), weight


def _wins(win, lose, weight, k: int) -> np.ndarray:
    """W[i, j] = i's (weighted) wins over j, a k × k matrix."""
    return np.bincount(win * k + lose, weights=weight, minlength=k * k).reshape(k, k)


def _win_rates(W: np.ndarray, b: int) -> np.ndarray:
    """Each model's share of the wins in its judgments against model b (nan: none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return W[:, b] / (W[:, b] + W[b, :])


# -------------------------------------------------------------------------- Bradley–Terry


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow warnings


def _loglik(s: np.ndarray, W: np.ndarray) -> float:
    """log L = Σ W[i, j] log σ(s_i − s_j)."""
    return -float(np.sum(W * np.logaddexp(0.0, s[None, :] - s[:, None])))


def _reach(adjacent: np.ndarray) -> np.ndarray:
    """R[i, j]: a path leads from i to j (every node reaches itself)."""
    R = adjacent | np.eye(len(adjacent), dtype=bool)
    while True:  # squaring doubles the path length covered: ⌈log2 k⌉ rounds
        R2 = R | (R.astype(float) @ R.astype(float) > 0)
        if (R2 == R).all():
            return R
        R = R2


def _fit(W: np.ndarray, b: int, tol: float = 1e-10) -> np.ndarray:
    """Maximum-likelihood strengths for a wins matrix whose beats-graph is strongly
    connected (so the MLE exists), with s[b] = 0: Newton's method on the concave
    log-likelihood, halving a step that would lower it."""
    k = len(W)
    free = np.arange(k) != b
    s = np.zeros(k)
    if k == 1:
        return s
    N = W + W.T
    ll = _loglik(s, W)
    for _ in range(200):
        P = _sigmoid(s[:, None] - s[None, :])  # P[i, j] = P(i beats j)
        grad = W.sum(1) - (N * P).sum(1)
        H = N * P * (1 - P)
        H = np.diag(H.sum(1)) - H  # minus the Hessian: positive definite off the baseline
        step = np.zeros(k)
        step[free] = np.linalg.solve(H[np.ix_(free, free)], grad[free])
        t = 1.0
        while True:
            new = s + t * step
            new_ll = _loglik(new, W)
            # near the optimum log L moves by less than its rounding error: accept then
            if new_ll >= ll - 1e-12 * (1 + abs(ll)) or t < 1e-6:
                break
            t /= 2
        s, ll = new, new_ll
        if np.abs(t * step).max() < tol:
            break
    return s


def _strengths(W: np.ndarray, b: int) -> np.ndarray:
    """Bradley–Terry strengths with s[b] = 0; ±inf or nan where the MLE does not exist.

    Draw an edge i → j when i has won (or tied) against j. The baseline's strongly connected
    group — the models it reaches by a chain of wins and that reach it — is fitted by
    maximum likelihood on its own judgments. Every other model gets:

    * +inf if a chain of wins leads from it to the baseline but none back: the likelihood
      keeps growing as its strength does, so the MLE is at infinity;
    * −inf if a chain leads from the baseline to it but none back;
    * nan (None in the report) if neither: nothing places it relative to the baseline
      (e.g. never compared with the baseline's part of the comparison graph).

    The judgments between the baseline's group and the others all point one way, so in the
    limit they cost nothing and the group's fit is the full likelihood's supremum."""
    R = _reach(W > 0)
    up, down = R[:, b], R[b, :]
    s = np.full(len(W), np.nan)
    s[up & ~down] = np.inf
    s[down & ~up] = -np.inf
    group = np.flatnonzero(up & down)
    s[group] = _fit(W[np.ix_(group, group)], int(np.searchsorted(group, b)))
    return s


def bradley_terry(judgments: Sequence[Judgment], baseline: str) -> dict:
    """Each model's Bradley–Terry strength, P(i beats j) = σ(bt_i − bt_j), by plain maximum
    likelihood with the baseline at 0; +inf, −inf or None where the MLE does not exist (the
    rule: ``_strengths``)."""
    models, _, win, lose, weight = _rows(judgments, baseline)
    s = _strengths(_wins(win, lose, weight, len(models)), 0)
    return {m: None if math.isnan(v) else float(v) for m, v in zip(models, s, strict=True)}


# ------------------------------------------------------------------------------ the report


def _interval(samples: np.ndarray, level: float, lowest: float, highest: float) -> list:
    """Percentile interval of bootstrap samples, as order statistics (no interpolation, so
    infinite samples give infinite ends). A sample where the statistic is undefined (nan)
    counts as ``lowest`` for the lower end and ``highest`` for the upper: the worst case."""
    tail = (1 - level) / 2
    lo = np.quantile(np.where(np.isnan(samples), lowest, samples), tail, method="inverted_cdf")
    hi = np.quantile(np.where(np.isnan(samples), highest, samples), 1 - tail, method="inverted_cdf")
    return [float(lo), float(hi)]


def report(judgments: Sequence[Judgment], baseline: str, *, n_boot=1000, seed=0, level=0.95):
    """``{"baseline": name, "models": {name: {"win_rate", "ci", "tie_rate", "n", "bt",
    "bt_ci"}}}`` for the baseline and every judged model.

    ``win_rate``: the model's wins (a tie half a win) over its ``n`` judgments directly
    against the baseline; ``tie_rate`` the share of ties among them; both None when n = 0.
    ``bt``: the Bradley–Terry strength in log-odds against the baseline (``_strengths``:
    ±inf or None where the MLE does not exist). ``ci`` and ``bt_ci``: percentile intervals
    at ``level`` from a bootstrap over prompts (all judgments of a drawn prompt come along),
    ``n_boot`` resamples from ``numpy.random.default_rng(seed)``. A resample where a
    strength is infinite counts as ±inf, so an interval may be open-ended; one where the
    statistic is undefined counts as the worst case for each end (0 / 1 for a win rate,
    −inf / +inf for a strength): an interval the data cannot bound says so.
    The baseline's own entry: win rate, its interval and tie rate None, ``n`` the number of
    its judgments against any other model, bt 0 and bt_ci [0, 0].
    The same judgments in the same order with the same seed give the same intervals.
    Values are floats and may be ±inf: pass the report through ``jsonable`` for JSON."""
    models, prompt, win, lose, weight = _rows(list(judgments), baseline)
    k, n_prompts = len(models), prompt.max(initial=-1) + 1
    W = _wins(win, lose, weight, k)
    n = (W + W.T)[:, 0]  # each judgment puts weight 1 on its pair
    ties = 2 * _wins(win, lose, weight * (weight == 0.5), k)[:, 0]  # a tie's rows weigh ½
    rates, bt = _win_rates(W, 0), _strengths(W, 0)

    # the cluster bootstrap: a prompt drawn c times weighs its judgments c times
    rng = np.random.default_rng(seed)
    boot_rate, boot_bt = np.empty((n_boot, k)), np.empty((n_boot, k))
    for r in range(n_boot):
        drawn = np.bincount(rng.integers(0, max(n_prompts, 1), n_prompts), minlength=n_prompts)
        Wr = _wins(win, lose, weight * drawn[prompt], k)
        boot_rate[r], boot_bt[r] = _win_rates(Wr, 0), _strengths(Wr, 0)

    n = np.rint(n).astype(int)
    undefined = {"win_rate": None, "ci": [None, None], "tie_rate": None}
    out = {baseline: {**undefined, "n": int(n.sum()), "bt": 0.0, "bt_ci": [0.0, 0.0]}}
    for i, m in enumerate(models[1:], start=1):
        out[m] = {
            "win_rate": float(rates[i]) if n[i] else None,
            "ci": _interval(boot_rate[:, i], level, 0.0, 1.0),
            "tie_rate": float(ties[i] / n[i]) if n[i] else None,
            "n": int(n[i]),
            "bt": None if math.isnan(bt[i]) else float(bt[i]),
            "bt_ci": _interval(boot_bt[:, i], level, -math.inf, math.inf),
        }
    return {"baseline": baseline, "models": out}


# ------------------------------------------------------------------------------ agreement


def _scores(judgments: Iterable[Judgment]) -> dict:
    """(prompt, model, model) → the first model's mean score over the judgments of that key
    (win 1, tie ½, loss 0); the pair is put in sorted order so (a, b) and (b, a) are one."""
    totals = defaultdict(lambda: [0.0, 0])
    for j in judgments:
        a, b, score = j.model_a, j.model_b, _SCORE[j.winner]
        if a == b:
            continue
        if b < a:
            a, b, score = b, a, 1.0 - score
        totals[(j.prompt, a, b)][0] += score
        totals[(j.prompt, a, b)][1] += 1
    return {key: total / count for key, (total, count) in totals.items()}


def agreement(judgments_a: Iterable[Judgment], judgments_b: Iterable[Judgment]) -> dict:
    """How often two sets of judgments (say a reward model's and the humans') agree:
    ``{"agreement": share or None, "n": keys judged by both}`` over (prompt, pair) keys.

    On a key each side's outcome is its score for the pair's first model (1 win, ½ tie,
    0 loss; the mean when it judged the key several times) and they agree by
    1 − |score_a − score_b|: the same winner 1, opposite winners 0, a tie against a win ½,
    both tie 1. Against a single decisive judgment that is exactly the mean agreement of
    the other side's several judgments."""
    sa, sb = _scores(judgments_a), _scores(judgments_b)
    shared = [key for key in sa if key in sb]
    if not shared:
        return {"agreement": None, "n": 0}
    return {"agreement": float(np.mean([1 - abs(sa[k] - sb[k]) for k in shared])), "n": len(shared)}


def jsonable(value):
    """``value`` as ``json.dumps(..., allow_nan=False)`` takes it: ±inf and nan become None
    (JSON has no infinity), numpy scalars and arrays plain numbers and lists."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
