"""Importing prompts, responses and preferences from files.

Each import is one transaction: a bad row aborts the whole file with its path, line
number and field, and nothing is written — unless ``skip_invalid`` is set, in which case
the row is reported and skipped. Rows are only parsed here: prompts go through
``PromptBook`` (``prompts.py``; split by source user, a per-user cap where a user id is
given, de-duplication by long common prefix), responses, rankings and the project through
their own services, and any typed refusal (``ServiceError``) is the row's error.
"""

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from labeling import projects
from labeling.errors import ServiceError
from labeling.intake.imported_rankings import AlreadyRanked, record_imported_ranking, source_labeler
from labeling.intake.prompts import (
    DuplicatePrompt,
    PromptBook,
    PromptCapped,
    PromptError,
    clean_messages,
)
from labeling.intake.responses import DuplicateResponse, ResponseError, add_response
from labeling.models import MAX_K, MIN_K, Prompt


class RowError(ServiceError):
    """A row that cannot be parsed; ``field`` names the culprit."""


class ImportFailed(Exception):
    """The whole import was rolled back because of one row."""


class SkipRow(Exception):
    """A valid row that is not imported: what it holds is there already."""


@dataclass
class ImportSummary:
    read: int = 0
    created: int = 0
    invalid: int = 0
    duplicates: int = 0
    capped: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"rows read: {self.read}, created: {self.created}, "
            f"skipped as invalid: {self.invalid}, skipped as duplicates: {self.duplicates}, "
            f"capped: {self.capped}"
        )


# --- reading files -------------------------------------------------------------------------


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


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


def _messages(value, name="messages") -> list[dict]:
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
        return "", _messages(record["messages"])
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        return "", _messages(prompt, "prompt")
    return text_field(record, "prompt"), None


def completion_text(value, name) -> str:
    """A response given as a string, or as TRL's conversational [{"role": "assistant", ...}]."""
    if isinstance(value, list):
        if not value or not isinstance(value[-1], dict) or value[-1].get("role") != "assistant":
            raise RowError(name, "a message list must end with the assistant's reply")
        value = value[-1].get("content")
    if not isinstance(value, str) or not value.strip():
        raise RowError(name, "is missing or empty")
    return value


# --- row importers ---------------------------------------------------------------------------


def _user_id(record) -> str:
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


def _metadata(record):
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


class PromptRows:
    """import_prompts: `prompt` or `messages`, optional id, user_id, category, metadata."""

    def __init__(self, project, **options):
        self.book = PromptBook(project)

    def __call__(self, record) -> None:
        text, messages = prompt_fields(record)
        external_id = record.get("id", "")
        external_id = "" if external_id is None else str(external_id)
        book_prompt(
            self.book,
            text,
            messages,
            source_user=_user_id(record),
            category=category_field(record),
            external_id=external_id,
            metadata=_metadata(record),
            reuse_identical=False,
        )


class ResponseRows:
    """import_responses: `prompt` or `prompt_id`, `response`, `model`."""

    def __init__(self, project, **options):
        self.project = project
        self.book = PromptBook(project)

    def prompt_of(self, record):
        if "prompt_id" in record and record["prompt_id"] not in (None, ""):
            ref = str(record["prompt_id"])
            prompt = Prompt.objects.filter(project=self.project, external_id=ref).first()
            if prompt is None and ref.isdigit():
                prompt = Prompt.objects.filter(project=self.project, pk=int(ref)).first()
            if prompt is None:
                raise RowError("prompt_id", f"no prompt {ref!r} in project {self.project.slug}")
            return prompt
        text, messages = prompt_fields(record)
        try:
            prompt = book_prompt(self.book, text, messages, category=category_field(record))
        except DuplicatePrompt:
            raise RowError("prompt", "shares its prefix with a different prompt (dedup)") from None
        return prompt

    def __call__(self, record) -> None:
        text = text_field(record, "response")
        model = record.get("model", "")
        if not isinstance(model, str):
            raise RowError("model", "must be a string")
        try:
            add_response(self.prompt_of(record), text, model_name=model)
        except DuplicateResponse:
            raise SkipRow() from None
        except ResponseError as exc:
            raise RowError(RESPONSE_FIELDS.get(exc.field, exc.field), exc.message) from exc


HH_HUMAN = "\n\nHuman:"
HH_ASSISTANT = "\n\nAssistant:"


def split_hh_dialogue(dialogue: str, name: str) -> tuple[str, str]:
    """(prefix up to and including the last `Assistant:` tag, final reply)."""
    cut = dialogue.rfind(HH_ASSISTANT)
    if cut < 0:
        raise RowError(name, "has no '\\n\\nAssistant:' turn")
    cut += len(HH_ASSISTANT)
    return dialogue[:cut], dialogue[cut:].strip()


def hh_prefix_messages(prefix: str) -> list[dict]:
    """HH's `\\n\\nHuman: … \\n\\nAssistant: …` prefix as chat messages, last turn the user's."""
    body = prefix[: -len(HH_ASSISTANT)]
    messages = []
    for chunk in body.split(HH_HUMAN)[1:]:
        human, *assistant_turns = chunk.split(HH_ASSISTANT)
        messages.append({"role": "user", "content": human.strip()})
        for turn in assistant_turns:
            messages.append({"role": "assistant", "content": turn.strip()})
    if not messages or any(not m["content"] for m in messages):
        raise RowError("chosen", "the dialogue has an empty turn before the last reply")
    return messages


class ComparisonRows:
    """import_comparisons: TRL `prompt/chosen/rejected`, or HH-RLHF full dialogues."""

    def __init__(self, project, *, labeler: str, **options):
        self.project = project
        self.book = PromptBook(project)
        self.labeler = source_labeler(labeler)

    def _parse(self, record):
        if "prompt" in record or "messages" in record:
            text, messages = prompt_fields(record)
            chosen = completion_text(record.get("chosen"), "chosen")
            rejected = completion_text(record.get("rejected"), "rejected")
            return text, messages, chosen, rejected
        chosen_dialogue = text_field(record, "chosen")
        rejected_dialogue = text_field(record, "rejected")
        chosen_prefix, chosen = split_hh_dialogue(chosen_dialogue, "chosen")
        rejected_prefix, rejected = split_hh_dialogue(rejected_dialogue, "rejected")
        if chosen_prefix != rejected_prefix:
            raise RowError("rejected", "the dialogues differ before the last assistant turn")
        if not chosen or not rejected:
            raise RowError("chosen" if not chosen else "rejected", "the final reply is empty")
        return "", _messages(hh_prefix_messages(chosen_prefix), "chosen"), chosen, rejected

    def __call__(self, record) -> None:
        text, messages, chosen, rejected = self._parse(record)
        if chosen == rejected:
            raise RowError("rejected", "is identical to chosen")
        prompt = book_prompt(
            self.book, text, messages, source_user=_user_id(record), category=category_field(record)
        )
        _record(self.project, prompt, [chosen, rejected], [1, 2], self.labeler)


def _record(project, prompt, texts, ranks, labeler, likert=None) -> None:
    """record_imported_ranking; a ranking the labeler has already is a duplicate row."""
    try:
        record_imported_ranking(project, prompt, texts, ranks, labeler, likert)
    except AlreadyRanked:
        raise SkipRow() from None


class RankingRows:
    """import_rankings: `prompt`, `responses[]`, `ranks[]` (1 = best, equal = tie), `labeler`."""

    def __init__(self, project, *, labeler: str, **options):
        self.project = project
        self.book = PromptBook(project)
        self.default_labeler = labeler
        self.labelers = {}

    def __call__(self, record) -> None:
        text, messages = prompt_fields(record)
        responses = record.get("responses")
        if not isinstance(responses, list) or not MIN_K <= len(responses) <= MAX_K:
            raise RowError("responses", f"must be a list of {MIN_K} to {MAX_K} responses")
        texts = [completion_text(r, f"responses[{i}]") for i, r in enumerate(responses)]
        if len(set(texts)) != len(texts):
            raise RowError("responses", "the same response text appears twice")
        ranks = record.get("ranks")
        if not isinstance(ranks, list):
            raise RowError("ranks", "must be a list")
        from labeling.outputs.comparisons import validate_ranks

        ranks = validate_ranks(ranks, len(texts), allow_ties=True)
        likert = record.get("likert")
        if likert is not None and (not isinstance(likert, list) or len(likert) != len(texts)):
            # the ratings themselves are the ranking service's to check (the project's scale)
            raise RowError("likert", f"must be a list of {len(texts)} ratings")
        name = record.get("labeler") or self.default_labeler
        if not isinstance(name, str):
            raise RowError("labeler", "must be a string")
        if name not in self.labelers:
            self.labelers[name] = source_labeler(name)
        prompt = book_prompt(
            self.book, text, messages, source_user=_user_id(record), category=category_field(record)
        )
        _record(self.project, prompt, texts, ranks, self.labelers[name], likert)


IMPORTERS = {
    "prompts": PromptRows,
    "responses": ResponseRows,
    "comparisons": ComparisonRows,
    "rankings": RankingRows,
}


def run_import(kind: str, path, project_slug: str, *, skip_invalid=False, **options):
    """Import one file in one transaction; return the summary or raise ImportFailed."""
    if kind in {"comparisons", "rankings"}:
        options.setdefault("labeler", Path(path).name.split(".")[0])
    return import_rows(IMPORTERS[kind], path, project_slug, skip_invalid=skip_invalid, **options)


def import_rows(rows, path, project_slug: str, *, skip_invalid=False, **options):
    """Import one file in one transaction with ``rows(project, **options)``, a callable that
    takes each record (other apps' importers use it too); returns the summary or raises
    ImportFailed naming ``file:line: field``."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    summary = ImportSummary()
    with transaction.atomic():
        try:
            project, _ = projects.get_or_create_project(project_slug)
        except projects.ProjectError as exc:
            raise ImportFailed(f"--project: {exc.message}") from exc
        try:
            handle_row = rows(project, **options)
        except ServiceError as exc:
            raise ImportFailed(f"--{exc.field}: {exc.message}") from exc
        line = 0
        try:
            for line, record in read_records(path):
                _import_row(handle_row, record, line, path, summary, skip_invalid)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            # a corrupt gzip, bytes that are not UTF-8: the file, not a row, is at fault
            raise ImportFailed(f"{path}:{line + 1}: file: cannot be read ({exc})") from exc
    return summary


def _import_row(handle_row, record, line, path, summary, skip_invalid) -> None:
    summary.read += 1
    try:
        if isinstance(record, RowError):
            raise record
        # A savepoint per row: a skipped row leaves no half-written rows behind.
        with transaction.atomic():
            handle_row(record)
        summary.created += 1
    except PromptCapped:
        summary.capped += 1
    except (SkipRow, DuplicatePrompt):
        summary.duplicates += 1
    except ServiceError as exc:  # a RowError, or any service's refusal of the row
        message = f"{path}:{line}: {exc.field}: {exc.message}"
        if not skip_invalid:
            raise ImportFailed(message) from exc
        summary.invalid += 1
        summary.problems.append(message)
