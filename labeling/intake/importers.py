"""Importing prompts, responses and preferences from files.

Each import is one transaction: a bad row aborts the whole file with its path, line
number and field, and nothing is written — unless ``skip_invalid`` is set, in which case
the row is reported and skipped. Rows are only parsed here: prompts go through
``PromptBook`` (``prompts.py``; split by source user, a per-user cap where a user id is
given, de-duplication by long common prefix), responses, rankings and the project through
their own services, and any typed refusal (``ServiceError``) is the row's error.

The file is read ``CHUNK_ROWS`` rows at a time (never whole): prompts and responses are
checked row by row but looked up and written a chunk at a time (``prompt_rows.py``),
preferences looked up a chunk at a time and written row by row (``preference_rows.py``).
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.db import reset_queries, transaction

from labeling import projects
from labeling.errors import ServiceError
from labeling.intake.preference_rows import ComparisonRows, RankingRows
from labeling.intake.prompt_rows import PromptRows, ResponseRows
from labeling.intake.prompts import DuplicatePrompt, PromptCapped

# Other apps' importers parse their rows with these.
from labeling.intake.records import (  # noqa: F401
    RowError,
    SkipRow,
    book_prompt,
    category_field,
    chunks,
    completion_text,
    prompt_fields,
    read_records,
    text_field,
)

# Rows read, checked and written together: memory grows with this, not with the file.
CHUNK_ROWS = 5000


class ImportFailed(Exception):
    """The whole import was rolled back because of one row."""


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
    """Import one file in one transaction with ``rows(project, **options)``; return the
    summary or raise ImportFailed naming ``file:line: field``.

    ``rows`` makes either a callable taking each record, run in a savepoint per row (other
    apps' importers), or a chunked handler: ``parse(record)`` (the row's own rules, no
    database), ``prepare(parsed rows)`` (the chunk's lookups), ``__call__(parsed row)`` and
    ``flush()`` (write what the chunk deferred); ``defers_writes`` says that ``__call__``
    writes nothing, so that a row needs no savepoint of its own."""
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
            handler = rows(project, **options)
        except ServiceError as exc:
            raise ImportFailed(f"--{exc.field}: {exc.message}") from exc
        line = 0

        def numbered():  # keeps ``line``, the last line read, for a file that fails
            nonlocal line
            for line, record in read_records(path):  # noqa: B007, UP028
                yield line, record

        try:
            if hasattr(handler, "flush"):
                for chunk in chunks(numbered(), CHUNK_ROWS):
                    _import_chunk(handler, chunk, path, summary, skip_invalid)
                    # with DEBUG on, Django keeps the last 9,000 statements' SQL: a chunk's
                    # statements carry its rows, and would hold thousands of chunks' worth
                    reset_queries()
            else:
                for number, record in numbered():
                    _import_row(handler, record, number, path, summary, skip_invalid)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            # a corrupt gzip, bytes that are not UTF-8: the file, not a row, is at fault
            raise ImportFailed(f"{path}:{line + 1}: file: cannot be read ({exc})") from exc
    return summary


def _import_chunk(handler, chunk, path, summary, skip_invalid) -> None:
    parsed = []
    for line, record in chunk:
        try:
            if isinstance(record, RowError):
                raise record
            parsed.append((line, handler.parse(record)))
        except ServiceError as exc:  # reported in the row's turn, after the rows before it
            parsed.append((line, exc))
    handler.prepare([row for _, row in parsed if not isinstance(row, ServiceError)])
    savepoint = not handler.defers_writes
    for line, row in parsed:
        _import_row(handler, row, line, path, summary, skip_invalid, savepoint=savepoint)
    handler.flush()


def _import_row(handle_row, record, line, path, summary, skip_invalid, *, savepoint=True):
    summary.read += 1
    try:
        if isinstance(record, ServiceError):
            raise record
        if savepoint:
            # A savepoint per row: a skipped row leaves no half-written rows behind.
            with transaction.atomic():
                handle_row(record)
        else:
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
        if savepoint and hasattr(handle_row, "rolled_back"):
            handle_row.rolled_back()
        summary.invalid += 1
        summary.problems.append(message)
