import pytest
from django.core.management.base import CommandError

from labeling.models import Prompt, Response

from .importing import counts, run, write_jsonl

pytestmark = pytest.mark.django_db


def test_by_prompt_text_and_by_prompt_id(tmp_path):
    run("import_prompts", write_jsonl(tmp_path / "p.jsonl", [{"id": "p1", "prompt": "Say hi."}]))
    rows = [
        {"prompt_id": "p1", "response": "Hi!", "model": "m1"},
        {"prompt_id": "p1", "response": "Hello there.", "model": "m2"},
        {"prompt": "A brand new prompt.", "response": "Answer.", "model": "m1"},
        {"prompt_id": "p1", "response": "Hi!", "model": "m3"},  # duplicate text
    ]
    out, _ = run("import_responses", write_jsonl(tmp_path / "r.jsonl", rows))
    assert "rows read: 4, created: 3, skipped as invalid: 0, skipped as duplicates: 1" in out
    assert Prompt.objects.get(external_id="p1").responses.count() == 2
    assert Response.objects.get(text="Answer.").prompt.text == "A brand new prompt."


@pytest.mark.parametrize(
    "row, message",
    [
        ({"prompt_id": "nope", "response": "x"}, ":1: prompt_id: no prompt 'nope'"),
        ({"prompt": "P", "response": ""}, ":1: response: is missing or empty"),
        ({"prompt": "P", "response": "x", "model": 3}, ":1: model: must be a string"),
        ({"response": "x"}, ":1: prompt: is missing or empty"),
        # the response service's rules (they were database errors)
        ({"prompt": "P", "response": "x", "model": "m" * 201}, ":1: model: at most 200"),
        ({"prompt": "P", "response": "x\x00"}, ":1: response: must not contain NUL"),
    ],
)
def test_bad_rows(tmp_path, row, message):
    before = counts()
    with pytest.raises(CommandError, match=message):
        run("import_responses", write_jsonl(tmp_path / "r.jsonl", [row]))
    assert counts() == before
