"""Prompts: every rule a new prompt obeys, whoever adds it.

The API, the file imports and the demo add prompts through ``PromptBook``: the content
rules (text or a message list ending with the user's turn, a known category, an object of
metadata, no NUL characters), then the project's dedup, per-user cap and split. Refusals
are ``PromptError``s naming the field; ``DuplicatePrompt`` and ``PromptCapped`` are the two
an import skips instead of failing on.
"""

from collections import Counter
from dataclasses import dataclass

from labeling.checks import has_nul
from labeling.errors import ServiceError
from labeling.intake import dedup, splits
from labeling.intake.bulk import bulk_batch_size
from labeling.limits import MAX_PROMPT_CHARS, too_long
from labeling.models import Project, Prompt

ROLES = ("system", "user", "assistant")
CATEGORIES = tuple(Prompt.Category.values)
EXTERNAL_ID_MAX_CHARS = Prompt._meta.get_field("external_id").max_length
SOURCE_USER_MAX_CHARS = Prompt._meta.get_field("source_user").max_length


class PromptError(ServiceError):
    """A refused prompt; ``field`` names what to fix."""


class DuplicatePrompt(PromptError):
    """The project has this prompt already (same external id, or same long prefix)."""


class PromptCapped(PromptError):
    """The prompt's author has reached the project's per-user cap."""


def clean_messages(value, field: str = "messages") -> list[dict]:
    """A multi-turn prompt as ``[{role, content}, ...]``, the last turn the user's."""
    if not isinstance(value, list) or not value:
        raise PromptError(field, "must be a non-empty list of {role, content}")
    clean = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise PromptError(field, f"message {i} is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            expected = f"expected one of {list(ROLES)}"
            raise PromptError(field, f"message {i} has role {role!r}; {expected}")
        if not isinstance(content, str) or not content.strip():
            raise PromptError(field, f"message {i} has no content")
        if has_nul(content):
            raise PromptError(field, f"message {i} contains a NUL character")
        if refusal := too_long(content, MAX_PROMPT_CHARS):
            raise PromptError(field, f"message {i}: {refusal}")
        clean.append({"role": role, "content": content})
    if clean[-1]["role"] != "user":
        raise PromptError(field, "the last message must be the user's (the prompt to answer)")
    return clean


def clean_prompt(
    text, messages, *, source_user="", category="other", external_id="", metadata=None
) -> dict:
    """The fields of a new prompt, checked: every rule but the project's (dedup, cap)."""
    if not isinstance(text, str):
        raise PromptError("text", "must be text")
    if messages is not None:
        if text:
            raise PromptError("text", "give text or messages, not both")
        messages = clean_messages(messages)
    elif not text.strip():
        raise PromptError("text", "give the prompt text or its messages")
    _text("text", text, MAX_PROMPT_CHARS)
    _text("source_user", source_user, SOURCE_USER_MAX_CHARS)
    details = _details(category=category, external_id=external_id, metadata=metadata)
    return {"text": text, "messages": messages, "source_user": source_user, **details}


def check_update(prompt: Prompt, **changes) -> dict:
    """``changes`` to ``prompt`` as ``update_prompt`` would store them, or PromptError."""
    unknown = set(changes) - {"category", "external_id", "metadata"}
    if unknown:
        raise TypeError(f"not changeable prompt fields: {', '.join(sorted(unknown))}")
    values = _details(**changes)
    external_id = values.get("external_id")
    if (
        external_id
        and Prompt.objects.filter(project_id=prompt.project_id, external_id=external_id)
        .exclude(pk=prompt.pk)
        .exists()
    ):
        raise DuplicatePrompt("external_id", "a prompt of this project has this id")
    return values


def update_prompt(prompt: Prompt, **changes) -> Prompt:
    """Change what may change once labelers may have seen the prompt: its category, external
    id and metadata (its text, dedup key, author and split stay as they were made)."""
    values = check_update(prompt, **changes)
    for name, value in values.items():
        setattr(prompt, name, value)
    if values:
        prompt.save(update_fields=list(values))
    return prompt


def _text(name, value, limit=None) -> None:
    if not isinstance(value, str):
        raise PromptError(name, "must be text")
    if limit is not None and (refusal := too_long(value, limit)):
        raise PromptError(name, refusal)
    if has_nul(value):
        raise PromptError(name, "must not contain NUL characters")


def _details(**fields) -> dict:
    """The category, external id and metadata given, checked (metadata None: empty)."""
    if "category" in fields and fields["category"] not in CATEGORIES:
        raise PromptError("category", f"{fields['category']!r} is not one of {sorted(CATEGORIES)}")
    if "external_id" in fields:
        _text("external_id", fields["external_id"], EXTERNAL_ID_MAX_CHARS)
    if "metadata" in fields:
        if fields["metadata"] is None:
            fields["metadata"] = {}
        if not isinstance(fields["metadata"], dict):
            raise PromptError("metadata", "must be an object")
        if has_nul(fields["metadata"]):
            raise PromptError("metadata", "must not contain NUL characters")
    return fields


def prompt_dedup_key(text: str, messages: list | None, prefix_chars: int) -> str:
    if messages:
        return dedup.conversation_dedup_key(messages, prefix_chars)
    return dedup.dedup_key(text, prefix_chars)


@dataclass
class PromptDraft:
    """A new prompt's checked fields and dedup key: what ``clean_prompt`` allows, not yet
    measured against the project (dedup, external id, cap)."""

    fields: dict
    key: str


class PromptBook:
    """Finds or creates prompts of one project under its split, cap and dedup rules; one book
    per batch, so the prompts of the batch count towards the cap and dedup of the next.

    Bulk imports make the book ``deferred``: new prompts wait in ``pending`` for ``flush``
    (one ``bulk_create``), and ``prefetch`` answers a chunk's dedup and external-id questions
    in two queries; the rules applied are the same, row by row, in the same order."""

    def __init__(self, project: Project, *, deferred: bool = False):
        self.project = project
        self.deferred = deferred
        self.by_key = {}
        self.id_taken = {}
        self.pending = []
        # one entry per author, not per prompt: the cap's state stays small on any file
        self.user_counts = Counter(
            Prompt.objects.filter(project=project)
            .exclude(source_user="")
            .values_list("source_user", flat=True)
        )

    def _existing(self, key):
        if key not in self.by_key:
            self.by_key[key] = Prompt.objects.filter(project=self.project, dedup_key=key).first()
        return self.by_key[key]

    def _external_id_taken(self, external_id) -> bool:
        if external_id not in self.id_taken:
            return Prompt.objects.filter(project=self.project, external_id=external_id).exists()
        return self.id_taken[external_id]

    def draft(
        self, text, messages, *, source_user="", category="other", external_id="", metadata=None
    ) -> PromptDraft:
        """The prompt's own rules (``clean_prompt``) and its dedup key; PromptError if not."""
        fields = clean_prompt(
            text,
            messages,
            source_user=source_user,
            category=category,
            external_id=external_id,
            metadata=metadata,
        )
        key = prompt_dedup_key(fields["text"], fields["messages"], self.project.dedup_prefix_chars)
        return PromptDraft(fields, key)

    def prefetch(self, drafts) -> None:
        """What ``get_or_create_draft`` will ask the database about ``drafts``, in one query
        for their dedup keys and one for their external ids."""
        keys = {d.key for d in drafts} - self.by_key.keys()
        if keys:
            found = Prompt.objects.filter(project=self.project, dedup_key__in=keys)
            self.by_key.update(dict.fromkeys(keys))
            self.by_key.update((p.dedup_key, p) for p in found)
        ids = {d.fields["external_id"] for d in drafts} - self.id_taken.keys() - {""}
        if ids:
            taken = set(
                Prompt.objects.filter(project=self.project, external_id__in=ids).values_list(
                    "external_id", flat=True
                )
            )
            self.id_taken.update((i, i in taken) for i in ids)

    def flush(self) -> None:
        """Write the pending prompts (a deferred book's) in one statement."""
        if self.pending:
            Prompt.objects.bulk_create(self.pending, batch_size=bulk_batch_size(Prompt))
            self.pending = []

    def forget(self) -> None:
        """Write what is pending and drop what was cached, so that a book kept over a whole
        file holds one chunk's prompts, not the file's (the database remembers the rest)."""
        self.flush()
        self.by_key.clear()
        self.id_taken.clear()

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
        """(prompt, created). With ``reuse_identical`` a prompt identical to one of the
        project's is that one (imported responses and preferences meet their prompt again);
        any other duplicate is refused."""
        draft = self.draft(
            text,
            messages,
            source_user=source_user,
            category=category,
            external_id=external_id,
            metadata=metadata,
        )
        return self.get_or_create_draft(draft, reuse_identical=reuse_identical)

    def check_draft(self, draft: PromptDraft, *, reuse_identical=True) -> Prompt | None:
        """The project's prompt that ``draft`` is (with ``reuse_identical``), None for a new
        one, or the refusal (``DuplicatePrompt``, ``PromptCapped``). Changes nothing."""
        fields, key = draft.fields, draft.key
        text, messages, source_user = fields["text"], fields["messages"], fields["source_user"]
        existing = self._existing(key)
        if existing is not None:
            identical = existing.text == text and (existing.messages or None) == messages
            if reuse_identical and identical:
                return existing
            raise DuplicatePrompt(
                "messages" if messages else "text",
                "duplicates a prompt of this project (same long prefix)",
            )
        if fields["external_id"] and self._external_id_taken(fields["external_id"]):
            raise DuplicatePrompt("external_id", "a prompt of this project has this id")
        if source_user and self.user_counts[source_user] >= self.project.prompt_cap_per_user:
            raise PromptCapped(
                "source_user",
                f"already has {self.project.prompt_cap_per_user} prompts (the per-user cap)",
            )
        return None

    def get_or_create_draft(self, draft: PromptDraft, *, reuse_identical=True):
        """``get_or_create`` of a checked draft: the project's rules (dedup, external id,
        per-user cap) and the split. A refusal changes nothing in the book."""
        existing = self.check_draft(draft, reuse_identical=reuse_identical)
        if existing is not None:
            return existing, False
        fields, key = draft.fields, draft.key
        source_user, external_id = fields["source_user"], fields["external_id"]
        prompt = Prompt(
            project=self.project,
            dedup_key=key,
            split=splits.split_for_user(
                source_user, self.project.split_fractions, fallback_key=key
            ),
            **fields,
        )
        if self.deferred:
            self.pending.append(prompt)
        else:
            prompt.save(force_insert=True)
        self.by_key[key] = prompt
        if external_id:
            self.id_taken[external_id] = True
        if source_user:
            self.user_counts[source_user] += 1
        return prompt, True
