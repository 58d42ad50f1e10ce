"""Recording a labeler's ranking: validation and the rows it writes, in one transaction."""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from labeling.assignment import sql
from labeling.assignment.records import RankedItem, RankingRecord
from labeling.errors import ServiceError
from labeling.limits import MAX_COMMENT_CHARS
from labeling.models import RankingTask
from labeling.outputs.comparisons import RanksError, validate_ranks

LOOK_UP = object()  # record_ranking: read the labeler's current ranking of the task itself


class RankingError(ServiceError):
    pass


@dataclass
class ItemInput:
    """One response's judgement, by position in the task's canonical order."""

    rank: int
    likert: int | None = None
    flags: list[str] = field(default_factory=list)


def validate_items(task: RankingTask, items: list[ItemInput], *, require_likert: bool):
    project = task.project
    try:
        validate_ranks([i.rank for i in items], task.k, allow_ties=project.allow_ties)
    except RanksError as exc:
        raise RankingError(exc.field, exc.message) from exc
    allowed_flags = set(project.flags or [])
    for position, item in enumerate(items, start=1):
        if item.likert is None:
            if require_likert:
                raise RankingError("likert", f"response {position} has no rating")
        elif isinstance(item.likert, bool) or not isinstance(item.likert, int):
            raise RankingError("likert", f"response {position} rating is not an integer")
        elif not 1 <= item.likert <= project.likert_max:
            scale = f"1..{project.likert_max}"
            raise RankingError(
                "likert", f"response {position} rating {item.likert} is outside {scale}"
            )
        unknown = [f for f in item.flags if f not in allowed_flags]
        if unknown:
            raise RankingError("flags", f"response {position} has unknown flag {unknown[0]!r}")


def record_ranking(
    task: RankingTask,
    labeler,
    items: list[ItemInput],
    *,
    assignment=None,
    comment: str = "",
    seconds_spent: float = 0,
    all_unacceptable: bool = False,
    submission_key: str = "",
    require_likert: bool = False,
    current=LOOK_UP,
    response_ids: list[int] | None = None,
    submits_at=None,
) -> RankingRecord:
    """Write a ranking and its items; a labeler's earlier current ranking is superseded.

    Plain statements (assignment_sql.py): every ranking on the platform is written here, and
    submit is the hot path of labeling. Returns the record of what was written.
    ``current``: the (id, version) of the labeler's current ranking of the task, or None,
    when the caller has read it already (the unique constraint ``ranking_one_current``
    refuses a second current ranking should it have changed since); ``response_ids`` (the
    task's, in position order) likewise. ``submits_at``: mark ``assignment`` submitted at
    that time, in the statement that writes the ranking (the caller holds its lock).
    """
    validate_items(task, items, require_likert=require_likert)
    if len(comment) > MAX_COMMENT_CHARS:
        raise RankingError("comment", f"at most {MAX_COMMENT_CHARS} characters")
    if seconds_spent < 0:
        raise RankingError("seconds_spent", "must not be negative")
    responses = response_ids or sql.response_ids(task.pk)
    if len(responses) != len(items):
        raise RankingError("items", f"{len(items)} given for {len(responses)} responses")
    submitted_at = timezone.now()
    # Joins the caller's transaction when there is one (no savepoint: an error here aborts
    # the whole submit anyway).
    with transaction.atomic(savepoint=False):
        previous = sql.lock_current_ranking(task.pk, labeler.pk) if current is LOOK_UP else current
        version = 1
        if previous is not None:
            sql.retire_ranking(previous[0])
            version = previous[1] + 1
        fields = {
            "task_id": task.pk,
            "labeler_id": labeler.pk,
            "assignment_id": assignment.id if assignment is not None else None,
            "version": version,
            "supersedes_id": previous[0] if previous is not None else None,
            "is_current": True,
            "all_unacceptable": all_unacceptable,
            "comment": comment,
            "seconds_spent": seconds_spent,
            "submission_key": submission_key,
            "submitted_at": submitted_at,
        }
        rows = [
            (response_id, item.rank, item.likert, list(item.flags))
            for response_id, item in zip(responses, items, strict=True)
        ]
        submits = (assignment.id, submits_at) if submits_at is not None else None
        pk, item_ids = sql.insert_ranking(fields, rows, submits=submits)
    items = [
        RankedItem(item_id, response_id, rank, likert, flags)
        for item_id, (response_id, rank, likert, flags) in zip(item_ids, rows, strict=True)
    ]
    return RankingRecord(
        id=pk,
        task=task.pk,
        labeler_id=labeler.pk,
        labeler=labeler.get_username(),
        assignment_id=fields["assignment_id"],
        version=version,
        supersedes=fields["supersedes_id"],
        is_current=True,
        all_unacceptable=all_unacceptable,
        comment=comment,
        seconds_spent=float(seconds_spent),
        submission_key=submission_key,
        submitted_at=submitted_at,
        items=sorted(items, key=lambda item: (item.rank, item.id)),
    )
