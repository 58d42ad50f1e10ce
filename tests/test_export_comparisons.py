"""manage.py export_comparisons: formats, options, and what datasets / TRL read."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest
from django.core.management.base import CommandError

from .api_world import fast_passwords  # noqa: F401
from .exporting import export, parse_jsonl, rank, read_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def ranked(project, make_task, labeler, other_labeler):
    tasks = [make_task(k=4) for _ in range(4)]
    for task in tasks:
        rank(task, labeler, [1, 2, 3, 4])
        rank(task, other_labeler, [1, 2, 2, 4])  # one tie: 5 pairs
    return tasks


def test_stdout_jsonl(ranked):
    rows = parse_jsonl(export("export_comparisons"))
    assert len(rows) == 4 * (6 + 5)
    assert {r["labeler"] for r in rows} == {"lena", "omar"}


def test_file_formats_agree(ranked, tmp_path):
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    export("export_comparisons", "campaign", "--out", str(tmp_path / "c.jsonl"))
    export("export_comparisons", "campaign", "--out", str(tmp_path / "c.jsonl.gz"), "--gzip")
    export(
        "export_comparisons",
        "campaign",
        "--out",
        str(tmp_path / "c.parquet"),
        "--format",
        "parquet",
    )
    export("export_comparisons", "campaign", "--out", str(tmp_path / "hf"), "--format", "hf")
    rows = read_jsonl(tmp_path / "c.jsonl")
    assert read_jsonl(tmp_path / "c.jsonl.gz") == rows
    assert pq.read_table(tmp_path / "c.parquet").to_pylist() == rows
    data = load_from_disk(str(tmp_path / "hf"))
    assert set(data) == {"train", "validation", "test"}
    for name, split in data.items():
        assert split.to_list() == [r for r in rows if r["split"] == name]


def test_jsonl_loads_with_datasets_and_fits_reward_trainer(ranked, tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    path = tmp_path / "pairs.jsonl"
    export("export_comparisons", "campaign", "--out", str(path))
    data = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    assert data.num_rows == 44
    # RewardTrainer takes an implicit- or explicit-prompt preference dataset:
    # "chosen" and "rejected" (and "prompt"); extra columns are ignored.
    assert {"prompt", "chosen", "rejected"} <= set(data.column_names)
    assert not is_conversational(data[0])
    assert all(isinstance(data[0][c], str) for c in ("prompt", "chosen", "rejected"))


def test_conversational_rows_fit_trl(project, make_task, labeler, tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    from labeling.models import Prompt

    task = make_task(k=4)
    messages = [{"role": "user", "content": "Write a haiku"}]
    Prompt.objects.filter(pk=task.prompt_id).update(messages=messages, text="")
    rank(task, labeler, [2, 1, 4, 3])
    path = tmp_path / "conv.jsonl"
    export("export_comparisons", "campaign", "--out", str(path))
    data = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    assert data.num_rows == 6
    assert is_conversational(data[0])
    assert data[0]["prompt"] == messages
    assert data[0]["chosen"][0]["role"] == "assistant"


def test_split_and_gold_options(ranked, project, make_task, labeler):
    gold = make_task(k=4, is_gold=True, gold_ranks=[1, 2, 3, 4])
    rank(gold, labeler, [1, 2, 3, 4])
    assert len(parse_jsonl(export("export_comparisons"))) == 44
    assert len(parse_jsonl(export("export_comparisons", "campaign", "--include-gold"))) == 50
    split = ranked[0].prompt.split
    rows = parse_jsonl(export("export_comparisons", "campaign", "--split", split))
    assert rows and {r["split"] for r in rows} == {split}


def test_conversational_can_be_forced_either_way(ranked):
    rows = parse_jsonl(export("export_comparisons", "campaign", "--conversational"))
    assert rows[0]["chosen"][0]["role"] == "assistant"
    assert rows[0]["prompt"] == [{"role": "user", "content": ranked[0].prompt.text}]
    plain = parse_jsonl(export("export_comparisons", "campaign", "--no-conversational"))
    assert plain == parse_jsonl(export("export_comparisons"))


def test_bad_option_names_the_option(ranked):
    with pytest.raises(CommandError, match="^min_agreement: must lie in 0..1"):
        export("export_comparisons", "campaign", "--min-agreement", "1.5")


def test_unknown_project_names_the_option():
    with pytest.raises(CommandError, match="^project: no project"):
        export("export_comparisons", "nope")


def test_parquet_needs_a_file(ranked):
    with pytest.raises(CommandError, match="^out:"):
        export("export_comparisons", "campaign", "--format", "parquet")
