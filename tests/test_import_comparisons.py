import gzip
import json
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from labeling.models import Ranking, RankingTask
from labeling.outputs.comparisons import ordered_pairs

from .importing import counts, run, write_jsonl

pytestmark = pytest.mark.django_db
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _ranked_texts(ranking):
    items = sorted(ranking.items.select_related("response"), key=lambda i: i.rank)
    return [item.response.text for item in items]


def test_trl_rows_become_two_response_tasks_with_one_ranking(tmp_path):
    rows = [
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
        {
            "prompt": [{"role": "user", "content": "2+2?"}],
            "chosen": [{"role": "assistant", "content": "4"}],
            "rejected": [{"role": "assistant", "content": "5"}],
        },
    ]
    out, _ = run("import_comparisons", write_jsonl(tmp_path / "prefs.jsonl", rows))
    assert "rows read: 2, created: 2" in out
    tasks = RankingTask.objects.filter(source="imported")
    assert tasks.count() == 2 and all(t.k == 2 for t in tasks)
    ranking = Ranking.objects.get(task__prompt__text="Capital of France?")
    assert ranking.labeler.username == "prefs"  # the file's source
    assert not ranking.labeler.has_usable_password()
    assert _ranked_texts(ranking) == ["Paris.", "Lyon."]
    # Re-importing the same file creates nothing new.
    out, _ = run("import_comparisons", write_jsonl(tmp_path / "prefs.jsonl", rows))
    assert "created: 0" in out and "skipped as duplicates: 2" in out


def test_hh_dialogues_split_at_last_assistant_turn(tmp_path):
    prefix = (
        "\n\nHuman: How do I bake bread?\n\nAssistant: Flour, water, yeast.\n\nHuman: How long?"
    )
    rows = [
        {
            "chosen": prefix + "\n\nAssistant: About 40 minutes at 220C.",
            "rejected": prefix + "\n\nAssistant: Forever.",
        },
        {  # differs before the last assistant turn: invalid
            "chosen": "\n\nHuman: A\n\nAssistant: B",
            "rejected": "\n\nHuman: C\n\nAssistant: D",
        },
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    before = counts()
    with pytest.raises(CommandError, match=r"hh.jsonl:2: rejected: the dialogues differ"):
        run("import_comparisons", path)
    assert counts() == before
    out, err = run("import_comparisons", path, "imp", "--skip-invalid")
    assert "rows read: 2, created: 1, skipped as invalid: 1" in out
    assert "hh.jsonl:2" in err
    task = RankingTask.objects.get()
    assert [m["role"] for m in task.prompt.messages] == ["user", "assistant", "user"]
    assert task.prompt.messages[-1]["content"] == "How long?"
    assert _ranked_texts(task.rankings.get()) == ["About 40 minutes at 220C.", "Forever."]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"prompt": "P", "chosen": "same", "rejected": "same"}, ":1: rejected: is identical"),
        ({"prompt": "P", "chosen": "", "rejected": "r"}, ":1: chosen: is missing or empty"),
        ({"chosen": "no turns", "rejected": "no turns either"}, ":1: chosen: has no"),
    ],
)
def test_bad_comparison_rows(tmp_path, row, message):
    before = counts()
    with pytest.raises(CommandError, match=message):
        run("import_comparisons", write_jsonl(tmp_path / "c.jsonl", [row]))
    assert counts() == before


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not present")
def test_real_hh_rlhf_file(tmp_path):
    # 200 real rows keep the test fast; the full file is exercised by the bench and CLI.
    with gzip.open(SHARED / "hh-rlhf-harmless-base-test.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for _, line in zip(range(200), handle, strict=False)]
    out, _ = run(
        "import_comparisons", write_jsonl(tmp_path / "hh.jsonl", rows), "hh", "--skip-invalid"
    )
    created = int(out.split("created: ")[1].split(",")[0])
    assert created > 150
    for ranking in Ranking.objects.all()[:20]:
        assert len(ordered_pairs([i.rank for i in ranking.items.all()])) == 1


def test_comparisons_across_chunks(tmp_path, monkeypatch):
    """Chunks of 2 rows: a pair ranked in one chunk is a duplicate in the next, a prompt made
    by one chunk is met again by the next."""
    from .importing import in_chunks_of

    in_chunks_of(monkeypatch, 2)
    rows = [
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},  # duplicate
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Nice."},
        {"prompt": "2+2?", "chosen": "4", "rejected": "4"},  # invalid
    ]
    out, err = run(
        "import_comparisons", write_jsonl(tmp_path / "c.jsonl", rows), "imp", "--skip-invalid"
    )
    assert out.strip() == (
        "rows read: 5, created: 3, skipped as invalid: 1, skipped as duplicates: 1, capped: 0"
    )
    assert err.strip().endswith("c.jsonl:5: rejected: is identical to chosen")
    assert RankingTask.objects.filter(prompt__text="Capital of France?").count() == 2
