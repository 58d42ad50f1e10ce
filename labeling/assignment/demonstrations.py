"""Demonstration work: which prompt a labeler writes for next, submitting, and review.

The queue: every prompt of the project wants ``DEMONSTRATIONS_PER_PROMPT`` demonstrations
that are pending or accepted (a rejected one does not count, so the prompt comes back).
A labeler never gets a prompt they already wrote for. Demonstrations hold no lease: two
labelers may occasionally write for the same prompt at the same moment, which gives one
extra demonstration rather than a lost one, so the candidates are spread by a per-labeler
hash to make that rare.
"""

import hashlib

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from labeling import roles
from labeling.errors import ServiceError
from labeling.limits import MAX_DEMONSTRATION_CHARS, MAX_REVIEW_NOTE_CHARS, too_long
from labeling.models import Demonstration, Project, Prompt

Status = Demonstration.Status
DEMONSTRATIONS_PER_PROMPT = 1
CANDIDATES = 50
MAX_SECONDS = 1e7  # about four months: anything longer is a broken clock


class DemonstrationError(ServiceError):
    """A refused demonstration or review."""


def open_prompts(project: Project, labeler):
    """Prompts that still want a demonstration and that this labeler has not written for."""
    return (
        Prompt.objects.filter(project=project)
        .exclude(demonstrations__author=labeler)
        .annotate(
            counted=Count(
                "demonstrations",
                filter=Q(demonstrations__status__in=[Status.PENDING, Status.ACCEPTED]),
            )
        )
        .filter(counted__lt=DEMONSTRATIONS_PER_PROMPT)
        .order_by("counted", "id")
    )


def next_prompt(project: Project, labeler, *, skip_ids=()) -> Prompt | None:
    if not roles.has_role(labeler, project, "labeler"):
        return None
    candidates = list(open_prompts(project, labeler).exclude(pk__in=skip_ids)[:CANDIDATES])
    if not candidates:
        return None

    def spread(prompt):
        digest = hashlib.sha256(f"demo:{prompt.pk}:{labeler.pk}".encode()).hexdigest()
        return (prompt.counted, digest)

    return min(candidates, key=spread)


def submit_demonstration(prompt: Prompt, author, text: str, *, seconds_spent=0.0):
    """One demonstration per author and prompt, at most MAX_DEMONSTRATION_CHARS, by a project
    member."""
    if not roles.has_role(author, prompt.project, "labeler"):
        raise DemonstrationError("prompt", "you are not a member of this project")
    text = (text or "").strip()
    if not text:
        raise DemonstrationError("text", "write the response before submitting")
    if refusal := too_long(text, MAX_DEMONSTRATION_CHARS):
        raise DemonstrationError("text", refusal)
    if (
        isinstance(seconds_spent, bool)
        or not isinstance(seconds_spent, int | float)
        or not 0 <= seconds_spent <= MAX_SECONDS  # also refuses NaN
    ):
        # a NaN or infinite time would be stored, and break every JSON that shows it
        raise DemonstrationError("seconds_spent", f"must be a number from 0 to {MAX_SECONDS:g}")
    if Demonstration.objects.filter(prompt=prompt, author=author).exists():
        raise DemonstrationError("prompt", "you already wrote a demonstration for this prompt")
    return Demonstration.objects.create(
        prompt=prompt, author=author, text=text, seconds_spent=float(seconds_spent)
    )


def pending_for_review(project: Project, reviewer):
    """Pending demonstrations a reviewer may judge: not their own."""
    return (
        Demonstration.objects.filter(prompt__project=project, status="pending")
        .exclude(author=reviewer)
        .select_related("prompt", "author")
        .order_by("created_at", "id")
    )


def review(demonstration: Demonstration, reviewer, *, accept: bool, note: str = ""):
    """A pending demonstration is accepted or rejected (with a note), once, by a reviewer of
    the project who is not its author; a reviewed one never goes back to pending."""
    project = demonstration.prompt.project
    if not roles.has_role(reviewer, project, "reviewer"):
        raise DemonstrationError("reviewer", "only reviewers of this project may review")
    if demonstration.author_id == reviewer.pk:
        raise DemonstrationError("reviewer", "you cannot review your own demonstration")
    note = (note or "").strip()
    if not accept and not note:
        raise DemonstrationError("review_note", "say why the demonstration is rejected")
    if refusal := too_long(note, MAX_REVIEW_NOTE_CHARS):
        raise DemonstrationError("review_note", refusal)
    with transaction.atomic():
        locked = Demonstration.objects.select_for_update().get(pk=demonstration.pk)
        if locked.status != Demonstration.Status.PENDING:
            raise DemonstrationError("status", f"already {locked.status}")
        locked.status = Demonstration.Status.ACCEPTED if accept else Demonstration.Status.REJECTED
        locked.review_note = note
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
    return locked
