import pytest
from django.core.management.base import CommandError

from labeling.models import Project, Prompt

from .importing import counts, run, write_jsonl

pytestmark = pytest.mark.django_db


def test_jsonl_prompts_text_and_messages(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"prompt": "Write a haiku about rain.", "user_id": "u1", "category": "generation"},
            {
                "id": "chat-1",
                "messages": [
                    {"role": "user", "content": "Hi, can you help me plan a trip?"},
                    {"role": "assistant", "content": "Sure, where to?"},
                    {"role": "user", "content": "Lisbon, three days."},
                ],
                "user_id": "u2",
                "category": "chat",
                "metadata": {"source": "test"},
            },
        ],
    )
    out, _ = run("import_prompts", path)
    assert "rows read: 2, created: 2" in out
    assert Project.objects.filter(slug="imp").exists()  # --project creates it
    chat = Prompt.objects.get(external_id="chat-1")
    assert chat.messages[-1]["content"] == "Lisbon, three days."
    assert chat.metadata == {"source": "test"} and chat.category == "chat"


def test_csv_and_gzip(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(
        'prompt,user_id,category\n"Summarise, briefly: the sky is blue.",u1,summarization\n'
        "Name three colours.,u2,brainstorming\n",
        encoding="utf-8",
    )
    out, _ = run("import_prompts", csv_path)
    assert "created: 2" in out
    gz = write_jsonl(tmp_path / "p.jsonl.gz", [{"prompt": "A gzipped prompt."}], gz=True)
    out, _ = run("import_prompts", gz)
    assert "created: 1" in out
    assert Prompt.objects.count() == 3


@pytest.mark.parametrize(
    "row, message",
    [
        ({"prompt": ""}, ":2: prompt: is missing or empty"),
        ({"prompt": "ok", "category": "poetry"}, ":2: category:"),
        ({"messages": [{"role": "bot", "content": "x"}]}, ":2: messages: message 0 has role"),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            ":2: messages: the last message must be the user's",
        ),
        ({"prompt": "ok", "metadata": [1]}, ":2: metadata: must be an object"),
        ("{not json", ":2: json: not valid JSON"),
        # the prompt service's rules, named by the file's fields (they were database errors)
        ({"prompt": "nul\x00here"}, ":2: prompt: must not contain NUL characters"),
        ({"prompt": "ok", "user_id": "u" * 201}, ":2: user_id: at most 200 characters"),
        ({"prompt": "ok", "id": "i" * 201}, ":2: id: at most 200 characters"),
        ({"prompt": "ok", "metadata": {"k": "\x00"}}, ":2: metadata: must not contain NUL"),
        ({"messages": [{"role": "user", "content": " "}]}, ":2: messages: message 0 has no"),
    ],
)
def test_bad_row_aborts_and_writes_nothing(tmp_path, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "A good first row."}, row])
    before = counts()
    with pytest.raises(CommandError) as excinfo:
        run("import_prompts", path)
    assert message in str(excinfo.value)
    assert str(path) in str(excinfo.value)
    assert counts() == before


def test_skip_invalid_reports_rows_and_imports_the_rest(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"prompt": "Good one."}, {"prompt": ""}, {"prompt": "Good two."}]
    )
    out, err = run("import_prompts", path, "imp", "--skip-invalid")
    assert "rows read: 3, created: 2, skipped as invalid: 1" in out
    assert ":2: prompt: is missing or empty" in err
    assert Prompt.objects.count() == 2


def test_per_user_cap_applies_only_with_user_id(tmp_path):
    Project.objects.create(slug="imp", name="imp", prompt_cap_per_user=2)
    rows = [{"prompt": f"Question {i} from one user", "user_id": "heavy"} for i in range(4)]
    rows += [{"prompt": f"Anonymous question {i}"} for i in range(4)]
    out, _ = run("import_prompts", write_jsonl(tmp_path / "p.jsonl", rows))
    assert (
        "rows read: 8, created: 6, skipped as invalid: 0, skipped as duplicates: 0, capped: 2"
        in out
    )
    assert Prompt.objects.filter(source_user="heavy").count() == 2


def test_long_common_prefix_dedup_on_every_import(tmp_path):
    Project.objects.create(slug="imp", name="imp", dedup_prefix_chars=40)
    stem = "Please write a short story about a dragon who"
    rows = [
        {"prompt": stem + " learns to fly."},
        {"prompt": stem.upper() + "   loves tea."},  # same normalised prefix
        {"prompt": "A different prompt entirely."},
    ]
    out, _ = run("import_prompts", write_jsonl(tmp_path / "p.jsonl", rows))
    assert "created: 2" in out and "skipped as duplicates: 1" in out
    out, _ = run("import_prompts", write_jsonl(tmp_path / "again.jsonl", rows[:1]))
    assert "created: 0" in out and "skipped as duplicates: 1" in out


def test_no_user_in_two_splits(tmp_path):
    rows = [
        {"prompt": f"Prompt {i} by user {i % 23}", "user_id": f"user{i % 23}"} for i in range(200)
    ]
    run("import_prompts", write_jsonl(tmp_path / "p.jsonl", rows))
    splits_by_user = {}
    for user, split in Prompt.objects.values_list("source_user", "split"):
        splits_by_user.setdefault(user, set()).add(split)
    assert all(len(s) == 1 for s in splits_by_user.values())
    assert {s for v in splits_by_user.values() for s in v} >= {"train", "validation"}


def test_a_bad_project_slug_is_refused_by_the_project_service(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Fine."}])
    before = counts()
    with pytest.raises(CommandError, match="--project: only letters, digits, hyphens"):
        run("import_prompts", path, "not a slug")
    assert counts() == before


def test_chunks_import_what_row_by_row_imports(tmp_path, monkeypatch):
    """The cap, dedup (by prefix and by id) and splits across chunks of 3 rows, as one by one:
    the same summary and the same prompts in the same splits."""
    from .importing import contents, in_chunks_of

    rows = [
        {"prompt": f"Question number {i} from a heavy user", "user_id": "heavy"} for i in range(3)
    ]
    rows += [
        {"prompt": "Question number 1 from a heavy user"},  # same prefix as row 2: duplicate
        {"id": "x1", "prompt": "One with an id.", "user_id": "u1"},
        {"id": "x1", "prompt": "Another with the same id."},  # duplicate id, next chunk
        {"prompt": "A heavy user's fourth question.", "user_id": "heavy"},  # capped
        {"prompt": ""},  # invalid
    ]
    rows += [{"prompt": f"Prompt {i} by user {i % 5}", "user_id": f"user{i % 5}"} for i in range(9)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    imported = []
    for chunk in (1, 3, 5000):
        in_chunks_of(monkeypatch, chunk)
        slug = f"chunks-of-{chunk}"
        Project.objects.create(slug=slug, name=slug, prompt_cap_per_user=2, dedup_prefix_chars=20)
        out, err = run("import_prompts", path, slug, "--skip-invalid")
        assert out.strip() == (
            "rows read: 17, created: 12, skipped as invalid: 1, skipped as duplicates: 2, capped: 2"
        )
        assert err.strip().endswith("p.jsonl:8: prompt: is missing or empty")
        imported.append(contents(slug))
    assert imported[0] == imported[1] == imported[2]
    assert len(imported[0][0]) == 12


def test_a_bad_row_in_a_later_chunk_names_its_line_and_writes_nothing(tmp_path, monkeypatch):
    from .importing import in_chunks_of

    in_chunks_of(monkeypatch, 3)
    rows = [{"prompt": f"Prompt {i}", "id": f"id-{i}"} for i in range(8)]
    rows[6] = {"prompt": "Prompt 6", "category": "poetry"}  # line 7, the third chunk
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    before = counts()
    with pytest.raises(CommandError, match=r"p.jsonl:7: category: 'poetry' is not one of"):
        run("import_prompts", path)
    assert counts() == before
