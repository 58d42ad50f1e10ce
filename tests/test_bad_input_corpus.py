"""The bad-input corpus of the imports: every file in tests/bad_input/ (and the binary or
oversize ones made here) is refused by its import command with ``file:line: field``, no
traceback, and nothing written. The API's bad inputs: tests/test_bad_input_api.py.

Each file holds a good row before the bad one: the whole file is refused, the good row too.
"""

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError

from labeling import limits
from tests.importing import counts, run

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "bad_input"
ROOT = Path(__file__).parent.parent
GOOD_PROMPT = json.dumps({"prompt": "What is the capital of France?"}) + "\n"


@dataclass
class Case:
    command: str
    file: str  # a name in tests/bad_input/, or one ``make`` writes
    line: int
    field: str
    says: str  # a fragment of the message
    make: object = None  # (path) -> None: writes a file the corpus cannot hold as text

    def path(self, tmp_path) -> Path:
        if self.make is None:
            return CORPUS / self.file
        path = tmp_path / self.file
        self.make(path)
        return path


def _lines(*rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else r.encode()) + b"\n" for r in rows)


def invalid_utf8(path):
    path.write_bytes(_lines(GOOD_PROMPT.strip(), b'{"prompt": "caf\xe9 au lait"}'))


def invalid_utf8_csv(path):
    path.write_bytes(_lines("id,prompt", "1,Fine question?", b"2,caf\xe9?"))


def corrupt_gzip(path):
    path.write_bytes(b"\x1f\x8b\x08\x00 this is not deflate data at all")


def truncated_gzip(path):
    whole = gzip.compress(_lines(GOOD_PROMPT.strip(), json.dumps({"prompt": "x" * 5000})))
    path.write_bytes(whole[: len(whole) // 2])


def not_gzip(path):
    path.write_bytes(_lines(GOOD_PROMPT.strip()))  # named .gz, plain text inside


def oversize(record_of):
    def make(path):
        path.write_text(GOOD_PROMPT + json.dumps(record_of(limits.MAX_PROMPT_CHARS + 1)) + "\n")

    return make


def oversize_response(record_of):
    def make(path):
        n = limits.MAX_RESPONSE_CHARS + 1
        path.write_text(json.dumps(record_of(n)) + "\n")  # the bad row first this time

    return make


AT_MOST_PROMPT = f"at most {limits.MAX_PROMPT_CHARS} characters"
AT_MOST_RESPONSE = f"at most {limits.MAX_RESPONSE_CHARS} characters"

IMPORT_CASES = {
    # import_prompts
    "prompts-broken-json": Case(
        "import_prompts", "prompts_broken_json.jsonl", 2, "json", "not valid JSON"
    ),
    "prompts-array-not-object": Case(
        "import_prompts", "prompts_array_line.jsonl", 2, "json", "must be a JSON object"
    ),
    "prompts-wrong-type": Case(
        "import_prompts", "prompts_number.jsonl", 2, "prompt", "must be a string"
    ),
    "prompts-null": Case("import_prompts", "prompts_null.jsonl", 2, "prompt", "missing or empty"),
    "prompts-empty-after-blank-line": Case(
        "import_prompts", "prompts_empty.jsonl", 3, "prompt", "missing or empty"
    ),
    "prompts-nul-escaped": Case("import_prompts", "prompts_nul_escape.jsonl", 2, "prompt", "NUL"),
    "prompts-nul-raw-byte": Case(
        "import_prompts", "prompts_nul_raw.jsonl", 2, "json", "not valid JSON"
    ),
    "prompts-messages-end-with-assistant": Case(
        "import_prompts",
        "prompts_messages_last_assistant.jsonl",
        2,
        "messages",
        "last message must be the user's",
    ),
    "prompts-messages-object": Case(
        "import_prompts", "prompts_messages_object.jsonl", 2, "messages", "non-empty list"
    ),
    "prompts-messages-bad-role": Case(
        "import_prompts", "prompts_messages_bad_role.jsonl", 2, "messages", "role 'robot'"
    ),
    "prompts-metadata-list": Case(
        "import_prompts", "prompts_metadata_list.jsonl", 2, "metadata", "must be an object"
    ),
    "prompts-unknown-category": Case(
        "import_prompts", "prompts_category_unknown.jsonl", 2, "category", "'astrology'"
    ),
    "prompts-id-too-long": Case("import_prompts", "prompts_id_too_long.jsonl", 2, "id", "at most"),
    "prompts-user-id-object": Case(
        "import_prompts", "prompts_user_id_object.jsonl", 2, "user_id", "must be a string"
    ),
    "prompts-csv-no-prompt-column": Case(
        "import_prompts", "prompts_no_prompt_column.csv", 2, "prompt", "missing or empty"
    ),
    "prompts-csv-empty-prompt": Case(
        "import_prompts", "prompts_csv_empty_prompt.csv", 3, "prompt", "missing or empty"
    ),
    "prompts-invalid-utf8": Case(
        "import_prompts", "bad_utf8.jsonl", 2, "file", "cannot be read", invalid_utf8
    ),
    "prompts-csv-invalid-utf8": Case(
        "import_prompts", "bad_utf8.csv", 3, "file", "cannot be read", invalid_utf8_csv
    ),
    "prompts-corrupt-gzip": Case(
        "import_prompts", "corrupt.jsonl.gz", 1, "file", "cannot be read", corrupt_gzip
    ),
    "prompts-not-gzip": Case(
        "import_prompts", "plain.jsonl.gz", 1, "file", "cannot be read", not_gzip
    ),
    "prompts-oversize-text": Case(
        "import_prompts",
        "long_prompt.jsonl",
        2,
        "prompt",
        AT_MOST_PROMPT,
        oversize(lambda n: {"prompt": "x" * n}),
    ),
    "prompts-oversize-message": Case(
        "import_prompts",
        "long_message.jsonl",
        2,
        "messages",
        AT_MOST_PROMPT,
        oversize(lambda n: {"messages": [{"role": "user", "content": "y" * n}]}),
    ),
    # import_responses
    "responses-missing-response": Case(
        "import_responses", "responses_missing_response.jsonl", 2, "response", "missing or empty"
    ),
    "responses-wrong-type": Case(
        "import_responses", "responses_response_list.jsonl", 2, "response", "must be a string"
    ),
    "responses-unknown-prompt-id": Case(
        "import_responses",
        "responses_unknown_prompt_id.jsonl",
        2,
        "prompt_id",
        "no prompt '987654321'",
    ),
    "responses-model-number": Case(
        "import_responses", "responses_model_number.jsonl", 2, "model", "must be a string"
    ),
    "responses-nul": Case("import_responses", "responses_nul.jsonl", 2, "response", "NUL"),
    "responses-array-not-object": Case(
        "import_responses", "responses_array_line.jsonl", 2, "json", "must be a JSON object"
    ),
    "responses-csv-no-prompt-column": Case(
        "import_responses", "responses_no_prompt_column.csv", 2, "prompt", "missing or empty"
    ),
    "responses-truncated-gzip": Case(
        "import_responses", "truncated.jsonl.gz", 1, "file", "cannot be read", truncated_gzip
    ),
    "responses-oversize": Case(
        "import_responses",
        "long_response.jsonl",
        1,
        "response",
        AT_MOST_RESPONSE,
        oversize_response(lambda n: {"prompt": "Name a fruit.", "response": "r" * n}),
    ),
    # import_comparisons
    "comparisons-same-response-twice": Case(
        "import_comparisons", "comparisons_same_twice.jsonl", 2, "rejected", "identical to chosen"
    ),
    "comparisons-missing-chosen": Case(
        "import_comparisons", "comparisons_missing_chosen.jsonl", 2, "chosen", "missing or empty"
    ),
    "comparisons-null-rejected": Case(
        "import_comparisons", "comparisons_null_rejected.jsonl", 2, "rejected", "missing or empty"
    ),
    "comparisons-wrong-type": Case(
        "import_comparisons", "comparisons_chosen_number.jsonl", 2, "chosen", "missing or empty"
    ),
    "comparisons-empty-prompt": Case(
        "import_comparisons", "comparisons_empty_prompt.jsonl", 2, "prompt", "missing or empty"
    ),
    "comparisons-hh-no-assistant": Case(
        "import_comparisons",
        "comparisons_hh_no_assistant.jsonl",
        2,
        "chosen",
        "no '\\n\\nAssistant:' turn",
    ),
    "comparisons-hh-prefixes-differ": Case(
        "import_comparisons",
        "comparisons_hh_prefix_differs.jsonl",
        2,
        "rejected",
        "differ before the last assistant turn",
    ),
    "comparisons-chosen-user-turn": Case(
        "import_comparisons",
        "comparisons_chosen_user_turn.jsonl",
        2,
        "chosen",
        "end with the assistant's reply",
    ),
    "comparisons-nul": Case(
        "import_comparisons", "comparisons_nul_chosen.jsonl", 2, "chosen", "NUL"
    ),
    "comparisons-oversize-chosen": Case(
        "import_comparisons",
        "long_chosen.jsonl",
        1,
        "chosen",
        AT_MOST_RESPONSE,
        oversize_response(
            lambda n: {"prompt": "Say bye.", "chosen": "c" * n, "rejected": "Later."}
        ),
    ),
    # import_rankings
    "rankings-k-one": Case(
        "import_rankings", "rankings_k_one.jsonl", 2, "responses", "2 to 9 responses"
    ),
    "rankings-k-ten": Case(
        "import_rankings", "rankings_k_ten.jsonl", 2, "responses", "2 to 9 responses"
    ),
    "rankings-length-mismatch": Case(
        "import_rankings", "rankings_length_mismatch.jsonl", 2, "ranks", "expected 3 ranks, got 2"
    ),
    "rankings-rank-zero": Case(
        "import_rankings", "rankings_rank_zero.jsonl", 2, "ranks", "0 is outside 1..2"
    ),
    "rankings-rank-negative": Case(
        "import_rankings", "rankings_rank_negative.jsonl", 2, "ranks", "-2 is outside 1..2"
    ),
    "rankings-rank-string": Case(
        "import_rankings", "rankings_rank_string.jsonl", 2, "ranks", "'1' is not an integer"
    ),
    "rankings-all-tied": Case(
        "import_rankings", "rankings_all_tied.jsonl", 2, "ranks", "same rank"
    ),
    "rankings-same-response-twice": Case(
        "import_rankings", "rankings_same_response_twice.jsonl", 2, "responses", "appears twice"
    ),
    "rankings-ranks-null": Case(
        "import_rankings", "rankings_ranks_null.jsonl", 2, "ranks", "must be a list"
    ),
    "rankings-responses-string": Case(
        "import_rankings", "rankings_responses_string.jsonl", 2, "responses", "must be a list"
    ),
    "rankings-likert-length": Case(
        "import_rankings",
        "rankings_likert_length.jsonl",
        2,
        "likert",
        "must be a list of 2 ratings",
    ),
    "rankings-likert-eight": Case(
        "import_rankings", "rankings_likert_eight.jsonl", 2, "likert", "rating 8 is outside 1..7"
    ),
    "rankings-labeler-number": Case(
        "import_rankings", "rankings_labeler_number.jsonl", 2, "labeler", "must be a string"
    ),
    "rankings-nul-response": Case(
        "import_rankings", "rankings_nul_response.jsonl", 2, "responses[1]", "NUL"
    ),
    "rankings-oversize-response": Case(
        "import_rankings",
        "long_ranked.jsonl",
        1,
        "responses[0]",
        AT_MOST_RESPONSE,
        oversize_response(
            lambda n: {"prompt": "Pick.", "responses": ["a" * n, "B."], "ranks": [1, 2]}
        ),
    ),
}


def test_the_corpus_is_what_the_cases_name():
    """Every corpus file is a case, and every case's file is in the corpus or made here."""
    named = {case.file for case in IMPORT_CASES.values() if case.make is None}
    assert named == {path.name for path in CORPUS.iterdir()}


@pytest.mark.parametrize("case", IMPORT_CASES.values(), ids=IMPORT_CASES.keys())
def test_import_refuses_naming_file_line_and_field(case, project, tmp_path):
    path = case.path(tmp_path)
    before = counts()
    with pytest.raises(CommandError) as refused:
        run(case.command, path, "bad-input")
    message = str(refused.value)
    assert message.startswith(f"{path}:{case.line}: {case.field}: "), message
    assert case.says in message, message
    assert "nothing was imported" in message and "Traceback" not in message
    assert counts() == before


SUBPROCESS_CASES = [
    "prompts-broken-json",
    "prompts-invalid-utf8",
    "prompts-corrupt-gzip",
    "responses-oversize",
    "comparisons-same-response-twice",
    "rankings-rank-zero",
]


@pytest.fixture
def command_env(settings, tmp_path):
    """The environment of a ``manage.py`` process that sees this test's database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
            pytest.fail("make test must run this on PostgreSQL")
        pytest.skip("a second process needs the PostgreSQL test database")
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return dict(os.environ, DATABASE_URL=url, PREFLAB_VAR_DIR=str(tmp_path / "var"))


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_the_command_exits_non_zero_without_traceback(name, project, tmp_path, command_env):
    case = IMPORT_CASES[name]
    path = case.path(tmp_path)
    before = counts()
    done = subprocess.run(
        [sys.executable, "manage.py", case.command, str(path), "--project", "bad-input"],
        cwd=ROOT,
        env=command_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"{path}:{case.line}: {case.field}: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert counts() == before
