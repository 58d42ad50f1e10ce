"""Importing preferences: comparisons (TRL pairs, HH-RLHF dialogues) and K-way rankings.

A row's own rules are checked in ``parse``, with no database; a chunk's prompts are looked
up, with their responses, imported tasks and rankings, in a few queries (``prepare``);
then each row is recorded as a collected ranking is (``ImportedRankings.record``, which is
``record_imported_ranking``), inside its own savepoint, since a ranking writes responses,
a task and its items that a later refusal of the row must take back.
"""

from dataclasses import dataclass

from labeling.intake.imported_rankings import AlreadyRanked, ImportedRankings, source_labeler
from labeling.intake.prompts import PromptBook, PromptDraft
from labeling.intake.records import (
    RowError,
    SkipRow,
    category_field,
    completion_text,
    draft_prompt,
    messages_field,
    prompt_fields,
    text_field,
    user_id_field,
)
from labeling.models import MAX_K, MIN_K

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


@dataclass
class Preference:
    """One row, parsed: its prompt's draft, the responses best first by ``ranks``."""

    draft: PromptDraft
    texts: list[str]
    ranks: list[int]
    labeler: str = ""
    likert: list | None = None


class PreferenceRows:
    """What comparisons and rankings share: the chunk's prompts found in two queries, each
    row written at once in its own savepoint (``defers_writes`` is False)."""

    defers_writes = False

    def __init__(self, project):
        self.project = project
        self.book = PromptBook(project)
        self.labelers = {}
        self.rankings = ImportedRankings()

    def labeler(self, name):
        if name not in self.labelers:
            self.labelers[name] = source_labeler(name)
        return self.labelers[name]

    def prepare(self, rows) -> None:
        self.book.prefetch([row.draft for row in rows])
        known = [prompt for prompt in self.book.by_key.values() if prompt is not None]
        self.rankings.prefetch(known, [text for row in rows for text in row.texts])

    def __call__(self, row: Preference) -> None:
        labeler = self.labeler(row.labeler)
        prompt, created = self.book.get_or_create_draft(row.draft)
        try:
            self.rankings.record(
                self.project,
                prompt,
                row.texts,
                row.ranks,
                labeler,
                row.likert,
                new_prompt=created,
            )
        except AlreadyRanked:
            raise SkipRow() from None

    def flush(self) -> None:
        self.book.forget()
        self.rankings.forget()

    def rolled_back(self) -> None:
        """A row's savepoint was rolled back: what the book or the labelers cached from it
        may no longer be in the database."""
        self.book.forget()
        self.labelers.clear()
        self.rankings.forget()


class ComparisonRows(PreferenceRows):
    """import_comparisons: TRL `prompt/chosen/rejected`, or HH-RLHF full dialogues."""

    def __init__(self, project, *, labeler: str, **options):
        super().__init__(project)
        self.file_labeler = labeler
        self.labeler(labeler)

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
        return "", messages_field(hh_prefix_messages(chosen_prefix), "chosen"), chosen, rejected

    def parse(self, record) -> Preference:
        text, messages, chosen, rejected = self._parse(record)
        if chosen == rejected:
            raise RowError("rejected", "is identical to chosen")
        draft = draft_prompt(
            self.book,
            text,
            messages,
            source_user=user_id_field(record),
            category=category_field(record),
        )
        return Preference(draft, [chosen, rejected], [1, 2], self.file_labeler)


class RankingRows(PreferenceRows):
    """import_rankings: `prompt`, `responses[]`, `ranks[]` (1 = best, equal = tie), `labeler`."""

    def __init__(self, project, *, labeler: str, **options):
        super().__init__(project)
        self.default_labeler = labeler

    def parse(self, record) -> Preference:
        from labeling.outputs.comparisons import validate_ranks

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
        ranks = validate_ranks(ranks, len(texts), allow_ties=True)
        likert = record.get("likert")
        if likert is not None and (not isinstance(likert, list) or len(likert) != len(texts)):
            # the ratings themselves are the ranking service's to check (the project's scale)
            raise RowError("likert", f"must be a list of {len(texts)} ratings")
        name = record.get("labeler") or self.default_labeler
        if not isinstance(name, str):
            raise RowError("labeler", "must be a string")
        draft = draft_prompt(
            self.book,
            text,
            messages,
            source_user=user_id_field(record),
            category=category_field(record),
        )
        return Preference(draft, texts, ranks, name, likert)
