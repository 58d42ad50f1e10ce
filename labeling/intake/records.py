"""A file's rows as records: reading JSONL or CSV (optionally gzipped) a line at a time, and
the fields every importer parses, refused as ``RowError`` naming the file's field."""

import contextlib
import csv
import gzip
import itertools
import json
import zlib
from pathlib import Path

from labeling.errors import ServiceError
from labeling.intake.prompts import DuplicatePrompt, PromptCapped, PromptError, clean_messages
from labeling.intake.responses import ResponseError, check_response
from labeling.models import Response


class RowError(ServiceError):
    """A row that cannot be parsed; ``field`` names the culprit."""


class SkipRow(Exception):
    """A valid row that is not imported: what it holds is there already."""


# --- reading files -------------------------------------------------------------------------


@contextlib.contextmanager
def _open_text(path: Path):
    """The file's lines as text, each decoded as it is read, so that bytes that are not UTF-8
    fail on their own line, not on the first read of a buffer holding many lines (the error
    names the line). Line endings are kept, as ``newline=""`` keeps them for ``csv``."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        yield (line.decode("utf-8") for line in _raw_lines(handle))


def _raw_lines(handle):
    try:
        yield from handle
    except zlib.error as exc:  # corrupt deflate data: as unreadable as a bad gzip header
        raise OSError(f"corrupt gzip data: {exc}") from exc


def read_records(path):
    """Yield (line number, record dict) from JSONL or CSV, optionally gzipped."""
    path = Path(path)
    stem = path.name.removesuffix(".gz")
    with _open_text(path) as handle:
        if stem.endswith(".csv"):
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowError("json", f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield number, RowError("json", "each line must be a JSON object")
                continue
            yield number, record


def chunks(records, size: int):
    """``records`` as lists of at most ``size``: a bulk import holds one list at a time."""
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- field parsing ---------------------------------------------------------------------------


def text_field(record, name, *, required=True) -> str:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(name, "is missing or empty")
        return ""
    if not isinstance(value, str):
        raise RowError(name, "must be a string")
    return value


def messages_field(value, name="messages") -> list[dict]:
    """A message list (a JSON string in CSV), checked here only to name the row's field."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(name, "is not valid JSON") from exc
    return clean_messages(value, name)


def prompt_fields(record) -> tuple[str, list | None]:
    """(text, messages) from a record's `prompt` (string or message list) or `messages`."""
    if "messages" in record:
        return "", messages_field(record["messages"])
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        return "", messages_field(prompt, "prompt")
    return text_field(record, "prompt"), None


def completion_text(value, name) -> str:
    """A response given as a string, or as TRL's conversational [{"role": "assistant", ...}]."""
    if isinstance(value, list):
        if not value or not isinstance(value[-1], dict) or value[-1].get("role") != "assistant":
            raise RowError(name, "a message list must end with the assistant's reply")
        value = value[-1].get("content")
    if not isinstance(value, str) or not value.strip():
        raise RowError(name, "is missing or empty")
    try:  # the response's own rules (NUL, length), named as the file names it
        check_response(value, origin=Response.Origin.MODEL, model_name="")
    except ResponseError as exc:
        raise RowError(name, exc.message) from exc
    return value


def user_id_field(record) -> str:
    value = record.get("user_id", "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowError("user_id", "must be a string")
    return value.strip()


def category_field(record) -> str:
    """A category as files write it ("Open QA", "open_qa"); PromptBook checks it."""
    value = record.get("category") or "other"
    return str(value).strip().lower().replace(" ", "_")


def metadata_field(record):
    """An object, or its JSON in CSV; PromptBook checks it."""
    value = record.get("metadata") or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError("metadata", "is not valid JSON") from exc
    return value


# The services' names of a row's fields, as the files name them.
PROMPT_FIELDS = {"text": "prompt", "source_user": "user_id", "external_id": "id"}
RESPONSE_FIELDS = {"text": "response", "model_name": "model"}


def book_prompt(book, text, messages, **fields):
    """PromptBook.get_or_create; a refusal names the file's field. Duplicates and capped
    rows are let through to be counted."""
    try:
        prompt, _ = book.get_or_create(text, messages, **fields)
    except (DuplicatePrompt, PromptCapped):
        raise
    except PromptError as exc:
        raise RowError(PROMPT_FIELDS.get(exc.field, exc.field), exc.message) from exc
    return prompt


def draft_prompt(book, text, messages, **fields):
    """PromptBook.draft (the prompt's own rules); a refusal names the file's field."""
    try:
        return book.draft(text, messages, **fields)
    except PromptError as exc:
        raise RowError(PROMPT_FIELDS.get(exc.field, exc.field), exc.message) from exc
