"""manage.py export_rankings: grouped rows, and the import_rankings round trip."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from .api_world import fast_passwords  # noqa: F401
from .exporting import export, parse_jsonl, rank, read_jsonl

pytestmark = pytest.mark.django_db

ROWS = [
    {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
     "ranks": [1, 2, 2, 4], "labeler": "ann"},
    {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
     "ranks": [4, 3, 2, 1], "labeler": "bob"},
    {"prompt": "Name a colour", "responses": ["red", "blue", "green", "teal", "cyan", "plum"],
     "ranks": [6, 5, 4, 3, 2, 1], "labeler": "ann"},
    {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Joke?"}],
     "responses": ["No.", "Knock knock."], "ranks": [2, 1], "labeler": "cy"},
]  # fmt: skip


def _key(row):
    prompt = row["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and prompt[0]["role"] == "user":
        prompt = prompt[0]["content"]  # text prompts come back as one user turn
    return (str(prompt), row["labeler"], tuple(zip(row["responses"], row["ranks"], strict=True)))


def test_import_then_export_gives_the_same_rankings(tmp_path):
    from django.core.management import call_command

    from .importing import write_jsonl

    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    call_command(
        "import_rankings", str(source), project="rt", stdout=tmp_path.joinpath("o").open("w")
    )
    out = tmp_path / "out.jsonl"
    export("export_rankings", "rt", "--out", str(out))
    exported = read_jsonl(out)
    assert sorted(map(_key, exported)) == sorted(map(_key, ROWS))
    # ... and the export imports again into an identical project.
    call_command(
        "import_rankings", str(out), project="rt2", stdout=tmp_path.joinpath("o").open("w")
    )
    again = parse_jsonl(export("export_rankings", "rt2"))
    assert sorted(map(_key, again)) == sorted(map(_key, exported))


def test_grouped_rows_load_with_datasets(project, make_task, labeler, tmp_path):
    from datasets import load_dataset

    for k in (4, 6, 9):
        project.k_max = 9
        project.save()
        rank(make_task(k=k), labeler, list(range(1, k + 1)))
    path = tmp_path / "rankings.jsonl.gz"
    export("export_rankings", "campaign", "--out", str(path), "--gzip")
    data = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    assert [len(r) for r in data["responses"]] == [4, 6, 9]
    assert data.column_names == [
        "prompt",
        "responses",
        "ranks",
        "ranking_id",
        "task_id",
        "labeler",
        "split",
    ]


def test_parquet_and_hf(project, make_task, labeler, tmp_path):
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    rank(make_task(k=4), labeler, [2, 1, 4, 3])
    export(
        "export_rankings", "campaign", "--out", str(tmp_path / "r.parquet"), "--format", "parquet"
    )
    export("export_rankings", "campaign", "--out", str(tmp_path / "hf"), "--format", "hf")
    (row,) = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert row["ranks"] == [2, 1, 4, 3]
    data = load_from_disk(str(tmp_path / "hf"))
    assert sum(s.num_rows for s in data.values()) == 1


def test_empty_export_still_has_columns(project, tmp_path):
    import pyarrow.parquet as pq

    export(
        "export_rankings", "campaign", "--out", str(tmp_path / "e.parquet"), "--format", "parquet"
    )
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and "ranks" in table.column_names


def test_evaluation_rankings_need_the_flag(project, make_task, labeler):
    from labeling.models import RankingTask

    evaluation = make_task(k=4, source=RankingTask.Source.EVALUATION)
    rank(evaluation, labeler, [1, 2, 3, 4])
    collected = make_task(k=4)
    rank(collected, labeler, [2, 1, 3, 4])
    default = parse_jsonl(export("export_rankings", project.slug))
    assert [row["task_id"] for row in default] == [collected.pk]
    flagged = parse_jsonl(export("export_rankings", project.slug, "--include-evaluation"))
    assert sorted(row["task_id"] for row in flagged) == sorted([collected.pk, evaluation.pk])
