"""manage.py export_prompts: the rows a prompts snapshot freezes for generation and PPO."""

import pytest
from django.core.management import CommandError

from labeling.models import Prompt

from .exporting import export, parse_jsonl, read_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompts(project, make_task):
    made = [make_task(k=4).prompt for _ in range(4)]
    for prompt, split in zip(made, ["train", "train", "validation", "train"], strict=True):
        prompt.split = split
        prompt.save(update_fields=["split"])
    return made


def test_rows_split_ids_and_limit(prompts):
    rows = parse_jsonl(export("export_prompts"))
    assert [r["prompt_id"] for r in rows] == [p.pk for p in prompts]
    assert rows[0] == {
        "prompt": prompts[0].text,
        "prompt_id": prompts[0].pk,
        "category": prompts[0].category,
        "split": "train",
    }
    train = parse_jsonl(export("export_prompts", "campaign", "--split", "train", "--limit", "2"))
    assert [r["prompt_id"] for r in train] == [prompts[0].pk, prompts[1].pk]
    ids = f"{prompts[3].pk},{prompts[2].pk}"
    chosen = parse_jsonl(export("export_prompts", "campaign", "--prompt-ids", ids))
    assert [r["prompt_id"] for r in chosen] == [prompts[2].pk, prompts[3].pk]


def test_multi_turn_prompts_make_the_export_conversational(prompts, tmp_path):
    Prompt.objects.filter(pk=prompts[1].pk).update(
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    )
    rows = parse_jsonl(export("export_prompts"))
    assert rows[0]["prompt"] == [{"role": "user", "content": prompts[0].text}]
    assert rows[1]["prompt"][1] == {"role": "assistant", "content": "Yo"}
    path = tmp_path / "prompts.parquet"
    export("export_prompts", "campaign", "--out", str(path), "--format", "parquet")
    from training.engine.data import read_rows

    assert [row["prompt_id"] for row in read_rows(path)] == [p.pk for p in prompts]
    export("export_prompts", "campaign", "--out", str(tmp_path / "p.jsonl"))
    assert len(read_jsonl(tmp_path / "p.jsonl")) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--limit", "0"], "limit: must lie in 1"),
        (["--prompt-ids", "3,x"], "prompt_ids: 'x' is not an id"),
    ],
)
def test_bad_options_name_the_option(prompts, args, message):
    with pytest.raises(CommandError, match=message):
        export("export_prompts", "campaign", *args)
