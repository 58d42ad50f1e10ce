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


# Rows crossing chunk boundaries (3 rows a chunk): duplicates within and across chunks, a
# prompt made by one chunk met again by the next, a refused prompt (dedup) and a response
# to the prompt just made, named by its id.
CHUNKED = [
    {"prompt": "First prompt.", "response": "A", "model": "m1"},
    {"prompt": "First prompt.", "response": "B", "model": "m2"},
    {"prompt": "First prompt.", "response": "A", "model": "m3"},  # duplicate, same chunk
    {"prompt": "First prompt.", "response": "B", "model": "m1"},  # duplicate, next chunk
    {"prompt": "Second prompt.", "response": "A", "model": "m1"},
    {"prompt_id": "p1", "response": "C"},
    {"prompt_id": "p1", "response": "C", "model": "again"},  # duplicate, next chunk
    {"prompt": "first   PROMPT.", "response": "D"},  # same prefix, other text: refused
    {"prompt": "Second prompt.", "response": "B", "model": "m2"},
]


@pytest.mark.parametrize("chunk", [1, 3, 5000])
def test_chunks_import_what_row_by_row_imports(tmp_path, monkeypatch, chunk):
    from .importing import contents, in_chunks_of

    in_chunks_of(monkeypatch, chunk)
    run("import_prompts", write_jsonl(tmp_path / "p.jsonl", [{"id": "p1", "prompt": "Hi."}]))
    out, err = run(
        "import_responses", write_jsonl(tmp_path / "r.jsonl", CHUNKED), "imp", "--skip-invalid"
    )
    assert out.strip() == (
        "rows read: 9, created: 5, skipped as invalid: 1, skipped as duplicates: 3, capped: 0"
    )
    assert err.strip().endswith(
        "r.jsonl:8: prompt: shares its prefix with a different prompt (dedup)"
    )
    assert contents("imp") == (
        [("First prompt.", "train", "", "", "other"), ("Hi.", "train", "", "p1", "other"),
         ("Second prompt.", "train", "", "", "other")],
        [("First prompt.", "A", "m1", "model"), ("First prompt.", "B", "m2", "model"),
         ("Hi.", "C", "", "model"), ("Second prompt.", "A", "m1", "model"),
         ("Second prompt.", "B", "m2", "model")],
    )  # fmt: skip


def test_a_bad_row_in_a_later_chunk_names_its_line_and_writes_nothing(tmp_path, monkeypatch):
    from .importing import in_chunks_of

    in_chunks_of(monkeypatch, 3)
    rows = [{"prompt": f"Prompt {i}", "response": f"R{i}"} for i in range(9)]
    rows[7] = {"prompt": "Prompt 7", "response": "nul\x00"}  # line 8, the third chunk
    rows[4] = {"prompt_id": "missing", "response": "x"}  # line 5, the second chunk
    before = counts()
    with pytest.raises(CommandError, match=r"r.jsonl:5: prompt_id: no prompt 'missing'"):
        run("import_responses", write_jsonl(tmp_path / "r.jsonl", rows))
    assert counts() == before
    out, err = run("import_responses", tmp_path / "r.jsonl", "imp", "--skip-invalid")
    assert "rows read: 9, created: 7, skipped as invalid: 2" in out
    assert [line.split(".jsonl")[1] for line in err.splitlines()] == [
        ":5: prompt_id: no prompt 'missing' in project imp",
        ":8: response: must not contain NUL characters",
    ]
    assert not Prompt.objects.filter(text="Prompt 7").exists()  # the refused row's prompt


def test_a_prompt_named_by_the_id_it_was_just_given(tmp_path, monkeypatch):
    """A row may name by id a prompt an earlier row of the same chunk made (not yet written
    when the chunk was looked up)."""
    run("import_prompts", write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Old."}]))
    new_id = Prompt.objects.get().pk + 1
    rows = [
        {"prompt": "New.", "response": "A"},
        {"prompt_id": str(new_id), "response": "B"},
        {"prompt": "New.", "response": "B"},  # the same prompt and text: a duplicate
    ]
    out, _ = run("import_responses", write_jsonl(tmp_path / "r.jsonl", rows))
    assert "rows read: 3, created: 2, skipped as invalid: 0, skipped as duplicates: 1" in out
    assert sorted(Prompt.objects.get(pk=new_id).responses.values_list("text", flat=True)) == [
        "A",
        "B",
    ]
