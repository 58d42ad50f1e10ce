"""The assignment engine: which ranking task a labeler gets next, leases, submit, skip, drafts.

Rules (issue 4):
- A task has ``task.overlap`` slots. A slot is *occupied* by a submitted assignment or by an
  active one whose lease has not run out; skipped and expired assignments free their slot.
- A labeler holds at most one active assignment per project and never gets a task they
  already held, skipped or ranked (``Assignment`` is unique per (task, labeler)).
- Gold tasks are mixed in with probability ``project.gold_rate`` per new assignment; the
  page never says which are gold. A gold task is only served in place of a normal one, so
  a labeler who has exhausted the normal queue does not get a stream of gold tasks (which
  would reveal them and skew the rate).
- Among the eligible tasks the one closest to completion (most occupied slots) comes first,
  so finished tasks accumulate instead of every task being a third done.
- Concurrency: the task row is locked (``select_for_update(skip_locked=True)`` on
  PostgreSQL, so concurrent labelers skip each other's candidates instead of queueing),
  and the occupied slots are counted *again* after the lock is held: under READ COMMITTED
  that second statement sees every assignment committed by whoever held the lock before.
  On SQLite ``select_for_update`` is a no-op and the IMMEDIATE transaction serialises
  writers instead.
- Speed: ``RankingTask.n_held`` counts a task's active (lapsed or not) and submitted
  assignments; every change of those updates it in the same transaction, and only
  ``sql.take_slot`` and ``sql.add_held`` write it. Candidates
  come from the partial index on it (``n_held < overlap``, fullest first, LIMIT 1), so
  ``next`` does not count the slots of every open task. The count is a hint: the slots are
  re-counted under the row lock (which also repairs it), and tasks whose count is full
  only because a lease ran out unswept are looked up through the active leases.
"""

import hashlib
import random
from collections import Counter
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.assignment import sql
from labeling.assignment.rankings import ItemInput, RankingError, record_ranking
from labeling.assignment.records import Lease, RankingRecord
from labeling.errors import ServiceError
from labeling.models import Assignment, Project, Ranking, RankingTask
from labeling.quality import screening

MAX_DRAFT_CHARS = 64_000
MAX_SKIP_REASON_CHARS = 2_000


class SubmissionError(ServiceError):
    """A refused submit, skip or draft."""


class NotAMember(PermissionError):
    """The user holds no role in the project, so gets no task from it."""


def _now(now):
    return now or timezone.now()


def display_order(task, labeler) -> list[int]:
    """Canonical positions in the order this labeler sees them: shuffled, but the same on
    every reload (seeded by the task and the labeler, not by the session)."""
    seed = hashlib.sha256(f"preflab-order:{task.id}:{labeler.pk}".encode()).digest()
    positions = list(range(task.k))
    random.Random(int.from_bytes(seed[:8], "big")).shuffle(positions)
    return positions


def _claim(project, labeler, now, *, gold: bool):
    """Lock and take one slot of an eligible task, or None. Runs inside a transaction."""
    rejected = []
    lapsed = False
    while True:
        candidate = sql.lock_open_task(
            project.pk, labeler.pk, now, gold=gold, lapsed=lapsed, rejected=rejected
        )
        if candidate is None:
            if lapsed:
                return None
            # Next: tasks counted full only because a lease ran out and no sweep ran yet.
            lapsed = True
            continue
        task_id, overlap, n_held = candidate
        expires_at = now + timedelta(minutes=project.lease_minutes)
        pk = sql.take_slot(task_id, overlap, n_held, labeler.pk, now, expires_at)
        if pk is None:
            rejected.append(task_id)
            continue
        return Lease(pk, task_id, labeler.pk, Assignment.Status.ACTIVE, now, expires_at)


def next_assignment(
    project: Project, labeler, *, now=None, rng=None, only_gold=False
) -> Lease | None:
    """The labeler's active assignment, else a new one, else None when the queue is empty.

    ``only_gold`` serves gold tasks only (a qualification/screening set), whatever the rate.
    """
    now = _now(now)
    with transaction.atomic():
        # One labeler's own concurrent requests queue on this lock (see lock_labeler).
        role = sql.lock_labeler(project.pk, labeler.pk)
        if role is None and not labeler.is_superuser:
            raise NotAMember(f"project: {labeler} is not a member of {project.slug}")
        lease = sql.open_lease(project.pk, labeler.pk, now)
        if lease is not None:
            return lease
        # Screening (screening.py): until qualified, a labeler gets only the qualification set.
        only_gold = only_gold or not screening.is_qualified(project, labeler)
        want_gold = only_gold or (rng or random).random() < project.gold_rate
        assignment = None
        if want_gold:
            assignment = _claim(project, labeler, now, gold=True)
        if assignment is None and not only_gold:
            assignment = _claim(project, labeler, now, gold=False)
        return assignment


def queue_size(project: Project, labeler, *, now=None) -> int:
    """How many tasks this labeler could still be given (normal tasks; gold stays hidden).

    A labeler still in screening is only served the qualification set, so that is counted.
    """
    screening_only = not screening.is_qualified(project, labeler)
    return sql.count_eligible(project.pk, labeler.pk, _now(now), gold=screening_only)


def submit_ranking(assignment, labeler, items: list[ItemInput], **options) -> RankingRecord:
    """Record the labeler's ranking of an assigned task (an Assignment or a Lease); safe to
    retry (see ``submit_task``). ``items`` are in the task's canonical position order.
    """
    if assignment.labeler_id != labeler.pk:
        raise SubmissionError("assignment", "this task is assigned to another labeler")
    return _submit(labeler, items, assignment_id=assignment.id, **options)


def submit_task(task_id: int, labeler, items: list[ItemInput], **options) -> RankingRecord | None:
    """``submit_ranking`` for the labeler's assignment of task ``task_id`` (None when they
    hold none), without reading the assignment first."""
    return _submit(labeler, items, task_id=task_id, **options)


def _recorded(ranking_id: int) -> RankingRecord:
    """A ranking recorded earlier (a retried submit)."""
    ranking = Ranking.objects.select_related("labeler").prefetch_related("items")
    return RankingRecord.of(ranking.get(pk=ranking_id))


def _submit(
    labeler,
    items: list[ItemInput],
    *,
    assignment_id=None,
    task_id=None,
    submission_key: str = "",
    comment: str = "",
    seconds_spent: float = 0.0,
    all_unacceptable: bool = False,
    now=None,
    require_likert: bool = True,
):
    """A retried POST (same ``submission_key``) or a second submit of the same assignment
    returns the ranking already recorded instead of writing another."""
    now = _now(now)
    if len(submission_key) > 64:
        raise SubmissionError("submission_key", "at most 64 characters")
    try:
        seconds_spent = float(seconds_spent)
    except (TypeError, ValueError):
        raise SubmissionError("seconds_spent", "must be a number") from None
    if not seconds_spent >= 0:  # also refuses NaN
        raise SubmissionError("seconds_spent", "must not be negative")
    with transaction.atomic():
        # Only the assignment row is locked (not its task or project: every submit in a
        # project would queue on the project row).
        found = sql.lock_assignment(
            labeler.pk,
            assignment_id=assignment_id,
            task_id=task_id,
            submission_key=submission_key,
        )
        if found is None:
            if assignment_id is not None:
                raise SubmissionError("assignment", "this task is assigned to another labeler")
            return None
        locked = found.assignment
        if found.key_ranking_id is not None:
            if found.key_assignment_id != locked.pk:
                raise SubmissionError("submission_key", "already used for another task")
            return _recorded(found.key_ranking_id)
        task = locked.task
        project = task.project
        if locked.status == Assignment.Status.SUBMITTED:
            return _recorded(found.own_ranking_id)
        if locked.status == Assignment.Status.SKIPPED:
            raise SubmissionError("assignment", "you skipped this task, so it cannot be submitted")
        if found.role is None and not labeler.is_superuser:
            raise SubmissionError("assignment", "you are no longer a member of this project")
        lease_over = locked.status == Assignment.Status.EXPIRED or locked.expires_at <= now
        if lease_over:
            # A late submission is still welcome if nobody took the slot meanwhile.
            RankingTask.objects.select_for_update(no_key=True).filter(pk=task.pk).first()
            _, occupied = sql.count_slots(task.pk, now, exclude_assignment=locked.pk)
            if occupied >= task.overlap:
                raise SubmissionError(
                    "assignment",
                    "your lease on this task expired at "
                    f"{timezone.localtime(locked.expires_at):%H:%M} and another labeler has "
                    "taken the slot, so this ranking was not recorded",
                )
        elapsed = (now - locked.leased_at).total_seconds()
        if project.min_seconds_per_task and elapsed < project.min_seconds_per_task:
            raise SubmissionError(
                "seconds_spent",
                f"this project asks for at least {project.min_seconds_per_task} "
                f"seconds per task and you submitted after {elapsed:.0f}; your draft is kept, "
                "take another look and submit again",
            )
        try:
            ranking = record_ranking(
                task,
                labeler,
                items,
                assignment=locked,
                comment=comment,
                # The client's timer counts visible time; it cannot exceed the lease's age.
                seconds_spent=min(seconds_spent, max(elapsed, 0.0)),
                all_unacceptable=all_unacceptable,
                submission_key=submission_key,
                require_likert=require_likert,
                current=found.current,  # read under the assignment's lock
                response_ids=found.response_ids,
                submits_at=now,
            )
        except RankingError as exc:
            raise SubmissionError(exc.field, exc.message) from exc
        except IntegrityError as exc:
            # Only a concurrent request with the same key gets here (the row lock above
            # serialises submits of one assignment).
            raise SubmissionError("submission_key", "already used for another task") from exc
        if locked.status == Assignment.Status.EXPIRED:
            sql.add_held(task.pk, 1)  # the row lock on the task is held (lease_over)
    return ranking


def skip_assignment(assignment, labeler, reason: str, *, now=None) -> Lease:
    """Give the slot back with a reason; the labeler never gets this task again.
    ``assignment``: an Assignment or a Lease."""
    now = _now(now)
    reason = (reason or "").strip()
    if not reason:
        raise SubmissionError("reason", "say why you skip this task")
    if len(reason) > MAX_SKIP_REASON_CHARS:
        raise SubmissionError("reason", f"at most {MAX_SKIP_REASON_CHARS} characters")
    if assignment.labeler_id != labeler.pk:
        raise SubmissionError("assignment", "this task is assigned to another labeler")
    with transaction.atomic():
        found = sql.lock_assignment(labeler.pk, assignment_id=assignment.id)
        if found is None:
            raise SubmissionError("assignment", "this task is assigned to another labeler")
        locked = found.assignment
        if locked.status == Assignment.Status.SKIPPED:
            return Lease.of(locked)
        if locked.status == Assignment.Status.SUBMITTED:
            raise SubmissionError("assignment", "already submitted, so it cannot be skipped")
        if locked.status == Assignment.Status.ACTIVE:
            sql.add_held(locked.task_id, -1)
        locked.status = Assignment.Status.SKIPPED
        locked.skip_reason = reason
        locked.finished_at = now
        locked.draft = None
        locked.save(update_fields=["status", "skip_reason", "finished_at", "draft"])
    return Lease.of(locked)


def save_draft(assignment, labeler, draft: dict):
    """Keep the page's unsaved state on the server; only the holder of an open assignment
    (an Assignment or a Lease)."""
    import json

    if assignment.labeler_id != labeler.pk:
        raise SubmissionError("assignment", "this task is assigned to another labeler")
    if not isinstance(draft, dict):
        raise SubmissionError("draft", "must be an object")
    if len(json.dumps(draft)) > MAX_DRAFT_CHARS:
        raise SubmissionError("draft", f"larger than {MAX_DRAFT_CHARS} characters")
    updated = Assignment.objects.filter(
        pk=assignment.id,
        labeler=labeler,
        status__in=[Assignment.Status.ACTIVE, Assignment.Status.EXPIRED],
    ).update(draft=draft)
    if not updated:
        raise SubmissionError("assignment", "already submitted or skipped")


def release_held_slot(sender, instance, **kwargs):
    """post_delete of an Assignment (an admin or a cascade): an active or submitted one no
    longer holds its task's slot."""
    if instance.status in (Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED):
        sql.add_held(instance.task_id, -1)


def expire_leases(now=None) -> int:
    """Mark every active assignment past its lease expired; returns how many."""
    now = _now(now)
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                Assignment.objects.select_for_update()
                .filter(status=Assignment.Status.ACTIVE, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", "task_id")[:500]
            )
            if not rows:
                return expired
            Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                status=Assignment.Status.EXPIRED, finished_at=now
            )
            per_task = Counter(task_id for _, task_id in rows)
            for task_id in sorted(per_task):
                sql.add_held(task_id, -per_task[task_id])
        expired += len(rows)
