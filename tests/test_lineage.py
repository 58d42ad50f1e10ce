"""training.lineage's plain parts: the layout (columns by kind, rows by creation) and the key
metrics picked per kind."""

import datetime as dt

from training.lineage import key_metrics, layout

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _node(node_id, kind, minutes):
    return {"id": node_id, "kind": kind, "created_at": T0 + dt.timedelta(minutes=minutes)}


def test_columns_follow_the_kinds_and_rows_the_creation_order():
    nodes = layout(
        [
            _node("evaluation-9", "evaluation", 50),
            _node("checkpoint-4", "policy", 40),
            _node("checkpoint-3", "sft", 30),
            _node("checkpoint-2", "rm", 20),
            _node("checkpoint-1", "sft", 10),
            _node("snapshot-1", "snapshot", 0),
        ]
    )
    places = {node["id"]: (node["x"], node["y"]) for node in nodes}
    # no base checkpoint: its column is left out, the others close up; odd columns sit half a
    # row lower
    assert places == {
        "snapshot-1": (0, 0),
        "checkpoint-1": (1, -0.5),
        "checkpoint-3": (1, -1.5),
        "checkpoint-2": (2, 0),
        "checkpoint-4": (3, -0.5),
        "evaluation-9": (4, 0),
    }


def test_an_empty_lineage_lays_out_nothing():
    assert layout([]) == []


def test_key_metrics_per_kind():
    metrics = {
        "eval/loss": 1.2,
        "eval/accuracy": 0.7,
        "eval/accuracy_longer_wins": 0.55,
        "ppo/score_gain": 0.4,
        "objective/kl": 3.1,
        "train/loss": 0.9,
    }
    assert key_metrics("sft", metrics) == {"eval/loss": 1.2}
    assert key_metrics("rm", metrics) == {"eval/accuracy": 0.7, "eval/accuracy_longer_wins": 0.55}
    assert key_metrics("rm", {"eval/accuracy": 0.7}) == {"eval/accuracy": 0.7}
    assert key_metrics("policy", metrics) == {"ppo/score_gain": 0.4, "objective/kl": 3.1}
    assert key_metrics("base", metrics) == {}
    assert key_metrics("sft", None) == {}
