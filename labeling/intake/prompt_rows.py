"""Importing prompts and responses in bulk: a chunk of rows costs a few queries and one
INSERT per table, whatever its size.

Each row is checked by the same rules, in the same order, as one added alone: ``parse``
applies the row's own rules (``clean_prompt``, ``check_response``) with no database;
``prepare`` asks the database what the chunk's rows need to know (their prompts by dedup
key, external id or id; the responses those prompts have) in one query each; ``__call__``
applies the project's rules (``PromptBook``: dedup, per-user cap, split; one text per
prompt) against those answers and what earlier rows of the chunk added, and refuses a row
before it defers anything, so a refused row leaves nothing behind without a savepoint;
``flush`` writes what the chunk added and forgets it (the next chunk asks the database).
"""

from dataclasses import dataclass

from django.utils import timezone

from labeling.errors import ServiceError
from labeling.intake import dedup
from labeling.intake.bulk import insert_rows
from labeling.intake.prompts import DuplicatePrompt, PromptBook, PromptDraft
from labeling.intake.records import (
    RESPONSE_FIELDS,
    RowError,
    SkipRow,
    category_field,
    draft_prompt,
    metadata_field,
    prompt_fields,
    text_field,
    user_id_field,
)
from labeling.intake.responses import ResponseError, check_response
from labeling.models import Prompt, Response

# The largest prompt id a reference may name (a bigint); a longer number names no prompt.
MAX_PROMPT_ID = 2**63 - 1


class PromptRows:
    """import_prompts: `prompt` or `messages`, optional id, user_id, category, metadata."""

    defers_writes = True

    def __init__(self, project, **options):
        self.book = PromptBook(project, deferred=True)

    def parse(self, record) -> PromptDraft:
        text, messages = prompt_fields(record)
        external_id = record.get("id", "")
        external_id = "" if external_id is None else str(external_id)
        return draft_prompt(
            self.book,
            text,
            messages,
            source_user=user_id_field(record),
            category=category_field(record),
            external_id=external_id,
            metadata=metadata_field(record),
        )

    def prepare(self, drafts) -> None:
        self.book.prefetch(drafts)

    def __call__(self, draft: PromptDraft) -> None:
        self.book.get_or_create_draft(draft, reuse_identical=False)

    def flush(self) -> None:
        self.book.forget()


@dataclass
class ResponseRow:
    """One row, parsed: the response, and its prompt by reference or as a draft."""

    text: str
    model: str
    prompt_ref: str = ""
    draft: PromptDraft | None = None
    text_hash: str = ""
    # The response's own refusal, raised once its prompt is found: a row alone names its
    # prompt's fault first, and so must a row of a chunk.
    refusal: ServiceError | None = None


class ResponseRows:
    """import_responses: `prompt` or `prompt_id`, `response`, `model`."""

    defers_writes = True

    def __init__(self, project, **options):
        self.project = project
        self.book = PromptBook(project, deferred=True)
        self._forget_chunk()

    def _forget_chunk(self):
        self.ids_by_ref = {}
        self.known_ids = set()
        # (prompt id, or ("new", id()) of a prompt not written yet; text hash) of the chunk
        self.answered = set()
        self.pending = []
        self.drafts = {}

    def parse(self, record) -> ResponseRow:
        text = text_field(record, "response")
        model = record.get("model", "")
        if not isinstance(model, str):
            raise RowError("model", "must be a string")
        row = ResponseRow(text, model)
        ref = record.get("prompt_id")
        if ref not in (None, ""):
            row.prompt_ref = str(ref)
        else:
            row.draft = self._draft(record)
        try:
            check_response(text, origin=Response.Origin.MODEL, model_name=model)
        except ResponseError as exc:
            row.refusal = RowError(RESPONSE_FIELDS.get(exc.field, exc.field), exc.message)
        else:
            row.text_hash = dedup.text_hash(text)
        return row

    def _draft(self, record) -> PromptDraft:
        """The row's prompt checked; a file's responses repeat their prompt, checked once a
        chunk (the same text and category are the same draft)."""
        prompt_text, messages = prompt_fields(record)
        category = category_field(record)
        if messages is not None:
            return draft_prompt(self.book, prompt_text, messages, category=category)
        if (prompt_text, category) not in self.drafts:
            draft = draft_prompt(self.book, prompt_text, None, category=category)
            self.drafts[prompt_text, category] = draft
        return self.drafts[prompt_text, category]

    def prepare(self, rows) -> None:
        self.book.prefetch([row.draft for row in rows if row.draft is not None])
        refs = {row.prompt_ref for row in rows if row.prompt_ref}
        prompts = Prompt.objects.filter(project=self.project)
        self.ids_by_ref = dict(
            prompts.filter(external_id__in=refs).values_list("external_id", "pk")
        )
        numbers = {_prompt_number(ref) for ref in refs - self.ids_by_ref.keys()} - {None}
        self.known_ids = set(prompts.filter(pk__in=numbers).values_list("pk", flat=True))
        prompt_ids = set(self.ids_by_ref.values()) | self.known_ids
        prompt_ids |= {p.pk for p in self.book.by_key.values() if p is not None}
        hashes = {row.text_hash for row in rows if row.text_hash}
        self.answered = set(
            Response.objects.filter(prompt_id__in=prompt_ids, text_hash__in=hashes).values_list(
                "prompt_id", "text_hash"
            )
        )

    def _prompt(self, row: ResponseRow):
        """The row's prompt: an id (an existing prompt), or the book's Prompt (maybe new;
        never for a row the response's own rules refuse)."""
        if not row.prompt_ref:
            try:
                if row.refusal is not None:  # no new prompt for a refused row
                    return self.book.check_draft(row.draft)
                prompt, _ = self.book.get_or_create_draft(row.draft)
            except DuplicatePrompt:
                raise RowError(
                    "prompt", "shares its prefix with a different prompt (dedup)"
                ) from None
            return prompt
        ref = row.prompt_ref
        if ref in self.ids_by_ref:
            return self.ids_by_ref[ref]
        number = _prompt_number(ref)
        if number is not None and number not in self.known_ids and self.book.pending:
            self._write_new_prompts()  # the id may be one this chunk has just made
            if Prompt.objects.filter(project=self.project, pk=number).exists():
                self.known_ids.add(number)
        if number in self.known_ids:
            return number
        raise RowError("prompt_id", f"no prompt {ref!r} in project {self.project.slug}")

    def _write_new_prompts(self):
        self.book.flush()
        # the chunk's new prompts have ids now: the responses given them are known by those
        self.answered |= {
            (prompt.pk, text_hash)
            for prompt, _, text_hash, _ in self.pending
            if not isinstance(prompt, int)
        }

    def __call__(self, row: ResponseRow) -> None:
        prompt = self._prompt(row)
        if row.refusal is not None:
            raise row.refusal
        key = prompt if isinstance(prompt, int) else prompt.pk or ("new", id(prompt))
        if (key, row.text_hash) in self.answered:
            raise SkipRow()
        self.answered.add((key, row.text_hash))
        self.pending.append((prompt, row.text, row.text_hash, row.model))

    def flush(self) -> None:
        self.book.flush()
        rows = (
            (prompt if isinstance(prompt, int) else prompt.pk, text, text_hash, model)
            for prompt, text, text_hash, model in self.pending
        )
        # what add_response stores besides the row's own fields
        constants = {
            "origin": Response.Origin.MODEL,
            "checkpoint_id": None,
            "metadata": {},
            "created_at": timezone.now(),
        }
        names = ["prompt_id", "text", "text_hash", "model_name"]
        insert_rows(Response, names, rows, constants)
        self.book.forget()
        self._forget_chunk()


def _prompt_number(ref: str) -> int | None:
    """The prompt id a reference may be (digits), or None."""
    if ref.isascii() and ref.isdigit() and int(ref) <= MAX_PROMPT_ID:
        return int(ref)
    return None
