"""manage.py export_demonstrations: TRL SFT formats, accepted ones unless asked."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from .api_world import fast_passwords  # noqa: F401
from .exporting import export, parse_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def demos(project, make_task, labeler):
    from labeling.models import Demonstration

    prompt = make_task(k=4).prompt
    Demonstration.objects.create(prompt=prompt, author=labeler, text="Accepted", status="accepted")
    Demonstration.objects.create(prompt=prompt, author=labeler, text="Pending")
    Demonstration.objects.create(prompt=prompt, author=labeler, text="No", status="rejected")
    return prompt


def test_accepted_only_by_default(demos):
    rows = parse_jsonl(export("export_demonstrations"))
    assert [(r["prompt"], r["completion"]) for r in rows] == [(demos.text, "Accepted")]
    assert len(parse_jsonl(export("export_demonstrations", "campaign", "--status", "all"))) == 3
    assert len(parse_jsonl(export("export_demonstrations", "campaign", "--status", "pending"))) == 1


@pytest.mark.parametrize("style", ["prompt_completion", "messages"])
def test_loads_with_datasets_in_sft_formats(demos, tmp_path, style):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    path = tmp_path / "sft.jsonl"
    export("export_demonstrations", "campaign", "--out", str(path), "--style", style)
    data = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    if style == "messages":
        # SFTTrainer's conversational language-modeling format
        assert "messages" in data.column_names and is_conversational(data[0])
        assert data[0]["messages"][-1] == {"role": "assistant", "content": "Accepted"}
    else:
        # SFTTrainer's prompt-completion format
        assert {"prompt", "completion"} <= set(data.column_names)
        assert not is_conversational(data[0])


def test_engine_reads_the_export(demos, tmp_path):
    from training.engine.data import demonstration_to_messages, read_rows

    path = tmp_path / "sft.parquet"
    export("export_demonstrations", "campaign", "--out", str(path), "--format", "parquet")
    (row,) = read_rows(path)
    assert demonstration_to_messages(row)[-1]["content"] == "Accepted"
