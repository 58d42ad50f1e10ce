"""import_evaluations: arena rows in, win rates equal to a direct count and Bradley–Terry
strengths equal to an independent maximum-likelihood fit; bad rows stop the import by
file:line: field with nothing written."""

import gzip
import json
import math

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy.optimize import minimize

from evaluations import report
from evaluations.models import Campaign, OutsideJudgment
from labeling.models import Prompt, Response

MODELS = ["alpha", "beta", "gamma"]
TRUE = {"alpha": 0.0, "beta": 0.8, "gamma": -0.5}


def _rows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = rng.choice(MODELS, 2, replace=False)
        p = 1 / (1 + math.exp(-(TRUE[a] - TRUE[b])))
        draw = rng.random()
        winner = "tie" if draw < 0.1 else ("model_a" if draw < 0.1 + 0.9 * p else "model_b")
        rows.append(
            {
                "prompt": f"Question {i % 60}: what is {i % 60} squared?",
                "model_a": str(a),
                "model_b": str(b),
                "response_a": f"{a} answers {i}",
                "response_b": f"{b} answers {i}",
                "winner": winner,
                "labeler": f"annotator-{i % 4}",
            }
        )
    return rows


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _import(path, project="arena", campaign="arena-1"):
    call_command("import_evaluations", str(path), "--project", project, "--campaign", campaign)


def test_win_rates_equal_a_direct_count_and_bt_an_independent_fit(db, tmp_path):
    rows = _rows()
    _import(_write(tmp_path / "battles.jsonl", rows))
    campaign = Campaign.objects.get(name="arena-1")
    assert OutsideJudgment.objects.filter(campaign=campaign).count() == len(rows)
    document = report.build_report(campaign, "alpha", n_boot=100)

    for model in ("beta", "gamma"):
        score = n = ties = 0
        for row in rows:
            if {row["model_a"], row["model_b"]} != {"alpha", model}:
                continue
            n += 1
            ties += row["winner"] == "tie"
            side = "model_a" if row["model_a"] == model else "model_b"
            score += 1.0 if row["winner"] == side else 0.5 if row["winner"] == "tie" else 0.0
        assert document["models"][model]["n"] == n
        assert document["models"][model]["win_rate"] == pytest.approx(score / n, abs=1e-12)
        assert document["models"][model]["tie_rate"] == pytest.approx(ties / n, abs=1e-12)

    # Bradley–Terry by plain maximum likelihood, written independently: alpha fixed at 0
    index = {"beta": 0, "gamma": 1}

    def negative_log_likelihood(free):
        strength = {"alpha": 0.0} | {m: free[i] for m, i in index.items()}
        total = 0.0
        for row in rows:
            a, b = row["model_a"], row["model_b"]
            share = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[row["winner"]]
            d = strength[a] - strength[b]
            total -= share * -np.logaddexp(0, -d) + (1 - share) * -np.logaddexp(0, d)
        return total

    fit = minimize(negative_log_likelihood, np.zeros(2), method="BFGS", options={"gtol": 1e-9})
    for model, i in index.items():
        assert document["models"][model]["bt"] == pytest.approx(fit.x[i], abs=1e-5)
    assert document["models"]["beta"]["bt"] > 0 > document["models"]["gamma"]["bt"]


def test_a_second_file_adds_to_the_same_campaign(db, tmp_path):
    _import(_write(tmp_path / "a.jsonl", _rows(10)))
    _import(_write(tmp_path / "b.jsonl", _rows(10, seed=1)))
    assert OutsideJudgment.objects.count() == 20
    assert Campaign.objects.get().contestants.count() == 3


def test_the_report_command_prints_the_document(db, tmp_path, capsys):
    _import(_write(tmp_path / "battles.jsonl", _rows(60)))
    capsys.readouterr()
    call_command(
        "evaluation_report", "--project", "arena", "--campaign", "arena-1",
        "--baseline", "alpha", "--bootstrap", "50", "--json",
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert document["baseline"] == "alpha"
    assert set(document["models"]) == set(MODELS)
    for key in ("win_rate", "ci", "tie_rate", "n", "bt", "bt_ci", "likert", "flags"):
        assert key in document["models"]["beta"]
    call_command("evaluation_report", "--project", "arena", "--campaign", "arena-1")
    assert "beta" in capsys.readouterr().out
    with pytest.raises(CommandError, match="baseline"):
        call_command(
            "evaluation_report", "--project", "arena", "--campaign", "arena-1",
            "--baseline", "nobody",
        )  # fmt: skip
    with pytest.raises(CommandError, match="--campaign"):
        call_command("evaluation_report", "--project", "arena", "--campaign", "nope")
    for judge, refusal in (("rm:999999", "no checkpoint 999999"), ("gpt", "human or rm:ID")):
        with pytest.raises(CommandError, match=f"--judge: {refusal}"):
            call_command(
                "evaluation_report", "--project", "arena", "--campaign", "arena-1",
                "--judge", judge,
            )  # fmt: skip


GOOD = {
    "prompt": "p",
    "model_a": "x",
    "model_b": "y",
    "response_a": "ra",
    "response_b": "rb",
    "winner": "tie",
}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{not json", "json"),
        ("[1, 2]", "json"),
        (json.dumps(GOOD | {"winner": "both"}), "winner"),
        (json.dumps(GOOD | {"winner": None}), "winner"),
        (json.dumps(GOOD | {"model_b": "x"}), "model_b"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "model_a"}), "model_a"),
        (json.dumps(GOOD | {"model_a": 7}), "model_a"),
        (json.dumps(GOOD | {"response_a": ""}), "response_a"),
        (json.dumps(GOOD | {"response_b": None}), "response_b"),
        (json.dumps(GOOD | {"prompt": ""}), "prompt"),
        (json.dumps(GOOD | {"prompt": "nul \u0000 byte"}), "prompt"),
        (json.dumps(GOOD | {"labeler": ["a"]}), "labeler"),
    ],
)
def test_a_bad_row_names_file_line_and_field_and_writes_nothing(db, tmp_path, line, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(CommandError) as failed:
        _import(path)
    assert f"{path}:2: {field}:" in str(failed.value)
    assert "nothing was imported" in str(failed.value)
    assert not OutsideJudgment.objects.exists()
    assert not Campaign.objects.exists()
    assert not Prompt.objects.exists() and not Response.objects.exists()


def test_gzip_and_a_corrupt_gzip(db, tmp_path):
    good = tmp_path / "battles.jsonl.gz"
    good.write_bytes(gzip.compress(json.dumps(GOOD).encode() + b"\n"))
    _import(good)
    assert OutsideJudgment.objects.count() == 1
    bad = tmp_path / "broken.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(CommandError, match="broken.jsonl.gz:1: file: cannot be read"):
        _import(bad, campaign="other")
    assert OutsideJudgment.objects.count() == 1
