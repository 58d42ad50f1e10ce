"""Importing prompts, responses and preferences from files.

Each import is one transaction: a bad row aborts the whole file with its path, line
number and field, and nothing is written — unless ``skip_invalid`` is set, in which case
the row is reported and skipped. Prompts go through the same rules whatever the file:
split by source user, a per-user cap (only where a user id is given) and de-duplication
by long common prefix (every import).
"""

import csv
import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from labeling.errors import ServiceError
from labeling.intake import dedup, splits
from labeling.intake.imported_rankings import AlreadyRanked, record_imported_ranking, source_labeler
from labeling.intake.responses import ResponseError, add_response
from labeling.models import MAX_K, MIN_K, Project, Prompt

ROLES = {"system", "user", "assistant"}
CATEGORIES = set(Prompt.Category.values)


class RowError(ValueError):
    """A row that cannot be imported; ``field`` names the culprit."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class ImportFailed(Exception):
    """The whole import was rolled back because of one row."""


class SkipRow(Exception):
    """A row that is valid but not imported (duplicate or capped)."""

    def __init__(self, reason: str):
        self.reason = reason


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


def _text(record, name, *, required=True) -> str:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(name, "is missing or empty")
        return ""
    if not isinstance(value, str):
        raise RowError(name, "must be a string")
    return value


def _messages(value, name="messages") -> list[dict]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(name, "is not valid JSON") from exc
    if not isinstance(value, list) or not value:
        raise RowError(name, "must be a non-empty list of {role, content}")
    clean = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(name, f"message {i} is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RowError(name, f"message {i} has role {role!r}; expected one of {sorted(ROLES)}")
        if not isinstance(content, str) or not content.strip():
            raise RowError(name, f"message {i} has no content")
        clean.append({"role": role, "content": content})
    if clean[-1]["role"] != "user":
        raise RowError(name, "the last message must be the user's (the prompt to answer)")
    return clean


def _prompt_fields(record) -> tuple[str, list | None]:
    """(text, messages) from a record's `prompt` (string or message list) or `messages`."""
    if "messages" in record:
        return "", _messages(record["messages"])
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        return "", _messages(prompt, "prompt")
    return _text(record, "prompt"), None


def prompt_dedup_key(text: str, messages: list | None, prefix_chars: int) -> str:
    if messages:
        return dedup.conversation_dedup_key(messages, prefix_chars)
    return dedup.dedup_key(text, prefix_chars)


def _completion_text(value, name) -> str:
    """A response given as a string, or as TRL's conversational [{"role": "assistant", ...}]."""
    if isinstance(value, list):
        if not value or not isinstance(value[-1], dict) or value[-1].get("role") != "assistant":
            raise RowError(name, "a message list must end with the assistant's reply")
        value = value[-1].get("content")
    if not isinstance(value, str) or not value.strip():
        raise RowError(name, "is missing or empty")
    return value


# --- the shared prompt rules -------------------------------------------------------------------


class PromptBook:
    """Finds or creates prompts under the project's split, cap and dedup rules."""

    def __init__(self, project: Project):
        self.project = project
        self.by_key = {}
        self.user_counts = Counter(
            Prompt.objects.filter(project=project)
            .exclude(source_user="")
            .values_list("source_user", flat=True)
        )

    def _existing(self, key):
        if key not in self.by_key:
            self.by_key[key] = Prompt.objects.filter(project=self.project, dedup_key=key).first()
        return self.by_key[key]

    def get_or_create(
        self,
        text,
        messages,
        *,
        source_user="",
        category="other",
        external_id="",
        metadata=None,
        reuse_identical=True,
    ) -> tuple[Prompt, bool]:
        key = prompt_dedup_key(text, messages, self.project.dedup_prefix_chars)
        existing = self._existing(key)
        if existing is not None:
            identical = existing.text == text and (existing.messages or None) == messages
            if reuse_identical and identical:
                return existing, False
            raise SkipRow("duplicate")
        if (
            external_id
            and Prompt.objects.filter(project=self.project, external_id=external_id).exists()
        ):
            raise SkipRow("duplicate")
        if source_user and self.user_counts[source_user] >= self.project.prompt_cap_per_user:
            raise SkipRow("capped")
        prompt = Prompt.objects.create(
            project=self.project,
            text=text,
            messages=messages,
            source_user=source_user,
            category=category,
            external_id=external_id,
            metadata=metadata or {},
            dedup_key=key,
            split=splits.split_for_user(
                source_user, self.project.split_fractions, fallback_key=key
            ),
        )
        self.by_key[key] = prompt
        if source_user:
            self.user_counts[source_user] += 1
        return prompt, True


# --- row importers ---------------------------------------------------------------------------


def _user_id(record) -> str:
    value = record.get("user_id", "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowError("user_id", "must be a string")
    return value.strip()


def _category(record) -> str:
    value = record.get("category") or "other"
    value = str(value).strip().lower().replace(" ", "_")
    if value not in CATEGORIES:
        raise RowError("category", f"{value!r} is not one of {sorted(CATEGORIES)}")
    return value


def _metadata(record) -> dict:
    value = record.get("metadata") or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError("metadata", "is not valid JSON") from exc
    if not isinstance(value, dict):
        raise RowError("metadata", "must be an object")
    return value


class PromptRows:
    """import_prompts: `prompt` or `messages`, optional id, user_id, category, metadata."""

    def __init__(self, project, **options):
        self.book = PromptBook(project)

    def __call__(self, record) -> None:
        text, messages = _prompt_fields(record)
        external_id = record.get("id", "")
        external_id = "" if external_id is None else str(external_id)
        self.book.get_or_create(
            text,
            messages,
            source_user=_user_id(record),
            category=_category(record),
            external_id=external_id,
            metadata=_metadata(record),
            reuse_identical=False,
        )


class ResponseRows:
    """import_responses: `prompt` or `prompt_id`, `response`, `model`."""

    def __init__(self, project, **options):
        self.project = project
        self.book = PromptBook(project)

    def _prompt(self, record):
        if "prompt_id" in record and record["prompt_id"] not in (None, ""):
            ref = str(record["prompt_id"])
            prompt = Prompt.objects.filter(project=self.project, external_id=ref).first()
            if prompt is None and ref.isdigit():
                prompt = Prompt.objects.filter(project=self.project, pk=int(ref)).first()
            if prompt is None:
                raise RowError("prompt_id", f"no prompt {ref!r} in project {self.project.slug}")
            return prompt
        text, messages = _prompt_fields(record)
        try:
            prompt, _ = self.book.get_or_create(text, messages, category=_category(record))
        except SkipRow:
            raise RowError("prompt", "shares its prefix with a different prompt (dedup)") from None
        return prompt

    def __call__(self, record) -> None:
        text = _text(record, "response")
        model = record.get("model", "")
        if not isinstance(model, str):
            raise RowError("model", "must be a string")
        try:
            add_response(self._prompt(record), text, model_name=model)
        except ResponseError:
            raise SkipRow("duplicate") from None


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
            text, messages = _prompt_fields(record)
            chosen = _completion_text(record.get("chosen"), "chosen")
            rejected = _completion_text(record.get("rejected"), "rejected")
            return text, messages, chosen, rejected
        chosen_dialogue = _text(record, "chosen")
        rejected_dialogue = _text(record, "rejected")
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
        prompt, _ = self.book.get_or_create(
            text, messages, source_user=_user_id(record), category=_category(record)
        )
        _record(self.project, prompt, [chosen, rejected], [1, 2], self.labeler)


def _record(project, prompt, texts, ranks, labeler, likert=None) -> None:
    """record_imported_ranking, its refusals as the row's."""
    try:
        record_imported_ranking(project, prompt, texts, ranks, labeler, likert)
    except AlreadyRanked:
        raise SkipRow("duplicate") from None
    except ServiceError as exc:
        raise RowError(exc.field, exc.message) from exc


class RankingRows:
    """import_rankings: `prompt`, `responses[]`, `ranks[]` (1 = best, equal = tie), `labeler`."""

    def __init__(self, project, *, labeler: str, **options):
        self.project = project
        self.book = PromptBook(project)
        self.default_labeler = labeler
        self.labelers = {}

    def __call__(self, record) -> None:
        text, messages = _prompt_fields(record)
        responses = record.get("responses")
        if not isinstance(responses, list) or not MIN_K <= len(responses) <= MAX_K:
            raise RowError("responses", f"must be a list of {MIN_K} to {MAX_K} responses")
        texts = [_completion_text(r, f"responses[{i}]") for i, r in enumerate(responses)]
        if len(set(texts)) != len(texts):
            raise RowError("responses", "the same response text appears twice")
        ranks = record.get("ranks")
        if not isinstance(ranks, list):
            raise RowError("ranks", "must be a list")
        from labeling.outputs.comparisons import validate_ranks

        try:
            ranks = validate_ranks(ranks, len(texts), allow_ties=True)
        except ServiceError as exc:
            raise RowError(exc.field, exc.message) from exc
        likert = record.get("likert")
        if likert is not None and (
            not isinstance(likert, list)
            or len(likert) != len(texts)
            or not all(isinstance(v, int) and 1 <= v <= self.project.likert_max for v in likert)
        ):
            raise RowError(
                "likert", f"must be {len(texts)} integers in 1..{self.project.likert_max}"
            )
        name = record.get("labeler") or self.default_labeler
        if not isinstance(name, str):
            raise RowError("labeler", "must be a string")
        if name not in self.labelers:
            self.labelers[name] = source_labeler(name)
        prompt, _ = self.book.get_or_create(
            text, messages, source_user=_user_id(record), category=_category(record)
        )
        _record(self.project, prompt, texts, ranks, self.labelers[name], likert)


IMPORTERS = {
    "prompts": PromptRows,
    "responses": ResponseRows,
    "comparisons": ComparisonRows,
    "rankings": RankingRows,
}


def get_or_create_project(slug: str) -> Project:
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
    return project


def run_import(kind: str, path, project_slug: str, *, skip_invalid=False, **options):
    """Import one file in one transaction; return the summary or raise ImportFailed."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    summary = ImportSummary()
    with transaction.atomic():
        project = get_or_create_project(project_slug)
        if kind in {"comparisons", "rankings"}:
            options.setdefault("labeler", path.name.split(".")[0])
        handle_row = IMPORTERS[kind](project, **options)
        for line, record in read_records(path):
            summary.read += 1
            try:
                if isinstance(record, RowError):
                    raise record
                # A savepoint per row: a skipped row leaves no half-written rows behind.
                with transaction.atomic():
                    handle_row(record)
                summary.created += 1
            except SkipRow as skip:
                if skip.reason == "capped":
                    summary.capped += 1
                else:
                    summary.duplicates += 1
            except RowError as exc:
                message = f"{path}:{line}: {exc}"
                if not skip_invalid:
                    raise ImportFailed(message) from exc
                summary.invalid += 1
                summary.problems.append(message)
    return summary
