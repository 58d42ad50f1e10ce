"""training.curves: a job's metric rows become one chart group per key prefix, numeric keys
only, in the console's order."""

from training.curves import ChartGroup, chart_groups, prefix_of


def test_keys_are_grouped_by_prefix_in_the_consoles_order():
    rows = [
        {"step": 1, "train/loss": 0.9, "eval/accuracy": 0.5, "time/step_s": 1.2, "epoch": 0},
        {"step": 2, "train/loss": 0.7, "train/lr": 1e-5, "objective/kl": 0.1, "zeta/x": 3},
    ]
    groups = chart_groups(rows)
    assert [g.prefix for g in groups] == ["train", "eval", "objective", "zeta", "other", "time"]
    train = groups[0]
    assert [s.key for s in train.series] == ["train/loss", "train/lr"]
    assert train.series[0].steps == [1, 2] and train.series[0].values == [0.9, 0.7]
    assert train.series[1].steps == [2]  # a key logged late starts where it was first logged
    assert [s.key for s in groups[4].series] == ["epoch"]  # no prefix: "other"


def test_only_finite_numbers_are_drawn_and_alarms_are_not_curves():
    rows = [
        {
            "step": 1,
            "train/loss": "nan?",
            "train/done": True,
            "train/inf": float("inf"),
            "train/nested": {"a": 1},
            "train/ok": 2,
            "alarm/kl": 6.5,
        },
        {"step": 2, "train/loss": 0.5, "train/nan": float("nan")},
    ]
    groups = chart_groups(rows)
    assert [g.prefix for g in groups] == ["train"]
    assert {s.key: s.steps for s in groups[0].series} == {"train/loss": [2], "train/ok": [1]}
    assert chart_groups([]) == []


def test_chart_ids_are_safe_element_ids():
    assert ChartGroup("train", []).div_id == "chart-train"
    assert ChartGroup('We"ird <x>', []).div_id == "chart-we-ird-x"
    assert ChartGroup("///", []).div_id == "chart-other"
    assert prefix_of("/x") == "other" and prefix_of("a/b/c") == "a" and prefix_of("loss") == "other"
