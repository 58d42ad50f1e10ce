import gzip
import json
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from labeling.comparisons import pair_count
from labeling.models import Ranking

from .importing import counts, run, write_jsonl

pytestmark = pytest.mark.django_db
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_rankings_with_ties_and_labelers(tmp_path):
    rows = [
        {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
         "ranks": [1, 2, 2, 4], "labeler": "ann"},
        {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
         "ranks": [4, 3, 2, 1], "labeler": "bob"},
    ]  # fmt: skip
    out, _ = run("import_rankings", write_jsonl(tmp_path / "r.jsonl", rows))
    assert "rows read: 2, created: 2" in out
    ann = Ranking.objects.get(labeler__username="ann")
    ranks = {i.response.text: i.rank for i in ann.items.select_related("response")}
    assert ranks == {"Apple": 1, "Pear": 2, "Plum": 2, "Fig": 4}
    assert pair_count(list(ranks.values())) == 5  # C(4,2) = 6 minus one tie
    # Both rankings share one prompt; each is its own imported task.
    assert Ranking.objects.values("task__prompt").distinct().count() == 1


@pytest.mark.parametrize(
    "row, message",
    [
        ({"prompt": "P", "responses": ["a"], "ranks": [1]}, "responses: must be a list of 2 to 9"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1]}, "ranks: expected 2 ranks"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 3]}, "ranks: 3 is outside 1..2"),
        ({"prompt": "P", "responses": ["a", "a"], "ranks": [1, 2]}, "responses: the same"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 1]}, "ranks: every response"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 2], "likert": [9, 1]}, "likert:"),
    ],
)
def test_bad_ranking_rows(tmp_path, row, message):
    path = write_jsonl(
        tmp_path / "r.jsonl", [{"prompt": "Q", "responses": ["x", "y"], "ranks": [1, 2]}, row]
    )
    before = counts()
    with pytest.raises(CommandError, match=f":2: {message}"):
        run("import_rankings", path)
    assert counts() == before


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not present")
def test_real_open_assistant_rankings(tmp_path):
    rows = []
    with gzip.open(SHARED / "oasst-en-100-assistant-rankings.jsonl.gz", "rt") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append(
                {
                    "prompt": [
                        {"role": m["role"], "content": m["text"]} for m in record["conversation"]
                    ],
                    "responses": record["responses"],
                    "ranks": [r + 1 for r in record["ranks"]],  # OASST: 0 = best
                    "labeler": "oasst",
                }
            )
    out, err = run(
        "import_rankings", write_jsonl(tmp_path / "oa.jsonl", rows), "oa", "--skip-invalid"
    )
    created = int(out.split("created: ")[1].split(",")[0])
    assert created >= 190, (out, err)
    ks = set(Ranking.objects.values_list("task__k", flat=True))
    assert {2, 3, 4, 9} <= ks
