"""The evaluation statistics on hand-computed cases, against an independent maximum-likelihood
fit, and by simulation (recovery of known strengths, coverage of the bootstrap interval).
No database."""

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from evaluations.statistics import (
    Judgment,
    agreement,
    bradley_terry,
    jsonable,
    judgments_from_ranking,
    report,
)


def _games(prompt_start, a, b, wins, ties, losses):
    """`wins` + `ties` + `losses` judgments of a against b, one per prompt, alternating
    which side is model_a so orientation is exercised."""
    outcomes = ["a"] * wins + ["tie"] * ties + ["b"] * losses
    out = []
    for i, o in enumerate(outcomes):
        p = prompt_start + i
        if i % 2:
            winner = {"a": "model_b", "b": "model_a", "tie": "tie"}[o]
            out.append(Judgment(p, b, a, winner))
        else:
            winner = {"a": "model_a", "b": "model_b", "tie": "tie"}[o]
            out.append(Judgment(p, a, b, winner))
    return out


def _simulate(rng, strengths, n_prompts, pairs):
    """One judgment per pair per prompt drawn from Bradley–Terry with these strengths."""
    names = list(strengths)
    out = []
    for p in range(n_prompts):
        for i, j in pairs:
            a, b = names[i], names[j]
            p_a = 1 / (1 + math.exp(-(strengths[a] - strengths[b])))
            out.append(Judgment(p, a, b, "model_a" if rng.random() < p_a else "model_b"))
    return out


def test_win_rate_by_hand():
    js = _games(0, "m", "base", wins=3, ties=1, losses=1)
    js += _games(100, "m", "other", wins=0, ties=0, losses=4)  # not against the baseline
    js += _games(200, "other", "base", wins=1, ties=0, losses=1)
    r = report(js, "base", n_boot=50)
    m = r["models"]["m"]
    assert m["win_rate"] == pytest.approx(0.7)
    assert m["tie_rate"] == pytest.approx(0.2)
    assert m["n"] == 5
    assert r["models"]["other"]["win_rate"] == pytest.approx(0.5)
    assert r["models"]["other"]["n"] == 2
    assert 0 <= m["ci"][0] <= 0.7 <= m["ci"][1] <= 1
    assert r["baseline"] == "base"
    assert r["models"]["base"] == {
        "win_rate": None,
        "ci": [None, None],
        "tie_rate": None,
        "n": 7,
        "bt": 0.0,
        "bt_ci": [0.0, 0.0],
    }


@pytest.mark.parametrize(("w", "t", "lost"), [(3, 0, 5), (4, 2, 7), (1, 3, 1), (10, 1, 2)])
def test_bradley_terry_two_models_by_hand(w, t, lost):
    # the baseline wins w, ties t and loses `lost` times against m
    js = _games(0, "base", "m", wins=w, ties=t, losses=lost)
    expected = math.log((lost + t / 2) / (w + t / 2))
    assert bradley_terry(js, "base")["m"] == pytest.approx(expected, abs=1e-10)
    assert report(js, "base", n_boot=20)["models"]["m"]["bt"] == pytest.approx(expected, abs=1e-10)


def test_bradley_terry_equals_an_independent_maximum_likelihood_fit():
    rng = np.random.default_rng(7)
    names = ["base", "a", "b", "c"]
    js = []
    for p in range(300):
        i, j = rng.choice(4, size=2, replace=False)
        js.append(Judgment(p, names[i], names[j], rng.choice(["model_a", "model_b", "tie"])))
    for p, (i, j) in enumerate([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]):
        js.append(Judgment(1000 + p, names[i], names[j], "model_a"))  # every pair compared
    score = {"model_a": 1.0, "tie": 0.5, "model_b": 0.0}
    ia = np.array([names.index(j.model_a) for j in js])
    ib = np.array([names.index(j.model_b) for j in js])
    y = np.array([score[j.winner] for j in js])

    def nll(free):
        s = np.concatenate([[0.0], free])
        d = s[ia] - s[ib]
        return np.sum(y * np.logaddexp(0, -d) + (1 - y) * np.logaddexp(0, d))

    fit = minimize(nll, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    ours = bradley_terry(js, "base")
    assert ours["base"] == 0.0
    assert [ours[n] for n in names[1:]] == pytest.approx(fit.x, abs=1e-6)
    assert max(abs(v) for v in fit.x) > 0.05  # a non-trivial case


def test_recovers_known_strengths():
    truth = {"base": 0.0, "m1": 0.5, "m2": 1.0, "m3": -0.5}
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    js = _simulate(np.random.default_rng(3), truth, 400, pairs)
    r = report(js, "base", n_boot=200, seed=1)["models"]
    assert sorted(truth, key=lambda m: r[m]["bt"]) == sorted(truth, key=truth.get)
    for m in ["m1", "m2", "m3"]:
        lo, hi = r[m]["bt_ci"]
        assert lo < r[m]["bt"] < hi
        assert lo < truth[m] < hi
        lo, hi = r[m]["ci"]
        assert lo < 1 / (1 + math.exp(-truth[m])) < hi  # σ(s_m): the true win rate


def test_win_rate_interval_covers_the_truth():
    p_win, p_tie = 0.55, 0.2  # p_loss 0.25
    truth = p_win + p_tie / 2
    rng = np.random.default_rng(11)
    covered, widths = 0, []
    for sim in range(100):
        u = rng.random(100)
        winner = np.where(u < p_win, "model_a", np.where(u < p_win + p_tie, "tie", "model_b"))
        js = [Judgment(p, "m", "base", w) for p, w in enumerate(winner)]
        lo, hi = report(js, "base", n_boot=300, seed=sim)["models"]["m"]["ci"]
        covered += lo <= truth <= hi
        widths.append(hi - lo)
    assert covered >= 90
    # and not by being too wide: the normal interval's width is 2 · 1.96 · sd / √100
    sd = math.sqrt(p_win + p_tie / 4 - truth**2)
    assert np.mean(widths) == pytest.approx(2 * 1.96 * sd / 10, rel=0.1)


def test_bootstrap_resamples_prompts_not_judgments():
    # three labelers who always agree add nothing: with the prompt as the unit the
    # intervals are those of one judgment per prompt (resampling judgments would narrow them)
    js = _simulate(np.random.default_rng(2), {"base": 0.0, "a": 0.4}, 80, [(0, 1)])
    tripled = [j._replace(labeler=name) for j in js for name in ("x", "y", "z")]
    once, thrice = report(js, "base", n_boot=200), report(tripled, "base", n_boot=200)
    assert thrice["models"]["a"]["n"] == 3 * once["models"]["a"]["n"]
    for key in ("ci", "bt_ci"):
        assert thrice["models"]["a"][key] == pytest.approx(once["models"]["a"][key], abs=1e-9)


def test_judgments_from_ranking():
    js = judgments_from_ranking("p1", ["x", "y", "z"], [1, 2, 2], labeler="ann", category="qa")
    assert js == [
        Judgment("p1", "x", "y", "model_a", "ann", "qa"),
        Judgment("p1", "x", "z", "model_a", "ann", "qa"),
        Judgment("p1", "y", "z", "tie", "ann", "qa"),
    ]
    assert [j.winner for j in judgments_from_ranking(0, ["a", "b"], [2, 1])] == ["model_b"]
    assert len(judgments_from_ranking(0, list("abcde"), [1, 2, 3, 4, 5])) == 10
    with pytest.raises(ValueError):
        judgments_from_ranking(0, ["a", "b"], [1])


def test_strengths_where_the_likelihood_has_no_maximum():
    js = _games(0, "m", "base", wins=1, ties=0, losses=2)  # finite: log(1/2)
    js += _games(100, "top", "base", wins=5, ties=0, losses=0)  # never loses: +inf
    js += _games(200, "top", "m", wins=3, ties=0, losses=0)
    js += _games(300, "higher", "top", wins=1, ties=0, losses=0)  # beats a +inf one: +inf
    js += _games(400, "bottom", "m", wins=0, ties=0, losses=4)  # never wins: -inf
    js += _games(500, "side", "bottom", wins=2, ties=0, losses=0)  # above -inf only: None
    js += _games(600, "x", "y", wins=1, ties=0, losses=1)  # disconnected: None
    js += _games(700, "drawn", "base", wins=0, ties=2, losses=0)  # only ties: 0
    bt = bradley_terry(js, "base")
    assert bt["m"] == pytest.approx(math.log(1 / 2), abs=1e-10)
    assert bt["top"] == bt["higher"] == math.inf
    assert bt["bottom"] == -math.inf
    assert bt["side"] is None and bt["x"] is None and bt["y"] is None
    assert bt["drawn"] == pytest.approx(0, abs=1e-12)

    r = report(js, "base", n_boot=100)
    models = r["models"]
    assert {m: models[m]["bt"] for m in bt} == pytest.approx(bt)
    assert models["top"]["bt_ci"] == [math.inf, math.inf]
    assert models["bottom"]["bt_ci"][0] == -math.inf
    assert models["x"]["bt_ci"] == [-math.inf, math.inf]  # undefined: unbounded
    assert models["x"]["win_rate"] is None and models["x"]["ci"] == [0.0, 1.0]
    assert models["m"]["bt_ci"][0] == -math.inf < models["m"]["bt_ci"][1]  # m may never win

    with pytest.raises(ValueError):
        json.dumps(r, allow_nan=False)
    dumped = json.loads(json.dumps(jsonable(r), allow_nan=False))
    assert dumped["models"]["top"]["bt"] is None
    assert dumped["models"]["bottom"]["bt_ci"][0] is None
    assert dumped["models"]["m"]["bt"] == pytest.approx(math.log(1 / 2))


def test_jsonable():
    value = {"a": [1.0, -math.inf, np.float64(2.5), (np.int64(3), math.nan)], "b": np.inf}
    assert jsonable(value) == {"a": [1.0, None, 2.5, [3, None]], "b": None}
    assert type(jsonable(np.float64(2.5))) is float
    assert jsonable(np.array([1.0, np.inf])) == [1.0, None]


def test_same_seed_same_intervals():
    rng = np.random.default_rng(5)
    truth = {"base": 0.0, "a": 0.3, "b": -0.2}
    js = _simulate(rng, truth, 60, [(0, 1), (0, 2), (1, 2)])
    first = report(js, "base", n_boot=200, seed=42)
    assert report(js, "base", n_boot=200, seed=42) == first
    other = report(js, "base", n_boot=200, seed=43)
    assert other["models"]["a"]["bt"] == first["models"]["a"]["bt"]
    assert [other["models"][m]["ci"] for m in "ab"] != [first["models"][m]["ci"] for m in "ab"]


def test_agreement():
    humans = [
        Judgment(1, "a", "b", "model_a"),
        Judgment(2, "a", "b", "model_b"),
        Judgment(3, "a", "b", "tie"),
        Judgment(4, "a", "b", "tie"),
        Judgment(5, "a", "b", "model_a"),  # not judged by the reward model
    ]
    rm = [
        Judgment(1, "b", "a", "model_b"),  # the same outcome, the other way round: agree
        Judgment(2, "a", "b", "model_a"),  # disagree
        Judgment(3, "a", "b", "tie"),  # both tie: agree
        Judgment(4, "a", "b", "model_a"),  # a tie against a win: half
        Judgment(9, "a", "b", "model_a"),
    ]
    assert agreement(humans, rm) == {"agreement": pytest.approx(2.5 / 4), "n": 4}
    assert agreement(rm, humans) == agreement(humans, rm)
    assert agreement(humans, []) == {"agreement": None, "n": 0}
    # two labelers split on one key, the reward model decisive: half the time agreed
    split = [Judgment(1, "a", "b", "model_a", "x"), Judgment(1, "a", "b", "model_b", "y")]
    assert agreement(split, [Judgment(1, "a", "b", "model_a")])["agreement"] == 0.5


def test_unknown_winner_is_refused():
    with pytest.raises(ValueError):
        report([Judgment(1, "a", "base", "a")], "base", n_boot=10)


def test_empty_report():
    assert report([], "base", n_boot=10) == {
        "baseline": "base",
        "models": {
            "base": {
                "win_rate": None,
                "ci": [None, None],
                "tie_rate": None,
                "n": 0,
                "bt": 0.0,
                "bt_ci": [0.0, 0.0],
            }
        },
    }
