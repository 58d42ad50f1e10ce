"""Recording a labeler's ranking: validation and the rows it writes, in one transaction."""

from dataclasses import dataclass, field

from django.db import transaction

from .comparisons import validate_ranks
from .models import Ranking, RankingItem, RankingTask


class RankingError(ValueError):
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
    except ValueError as exc:
        raise RankingError(str(exc)) from exc
    allowed_flags = set(project.flags or [])
    for position, item in enumerate(items, start=1):
        if item.likert is None:
            if require_likert:
                raise RankingError(f"likert: response {position} has no rating")
        elif isinstance(item.likert, bool) or not isinstance(item.likert, int):
            raise RankingError(f"likert: response {position} rating is not an integer")
        elif not 1 <= item.likert <= project.likert_max:
            scale = f"1..{project.likert_max}"
            raise RankingError(
                f"likert: response {position} rating {item.likert} is outside {scale}"
            )
        unknown = [f for f in item.flags if f not in allowed_flags]
        if unknown:
            raise RankingError(f"flags: response {position} has unknown flag {unknown[0]!r}")


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
) -> Ranking:
    """Write a ranking and its items; a labeler's earlier current ranking is superseded."""
    validate_items(task, items, require_likert=require_likert)
    if seconds_spent < 0:
        raise RankingError("seconds_spent: must not be negative")
    responses = [tr.response_id for tr in task.task_responses.all()]
    with transaction.atomic():
        previous = (
            Ranking.objects.select_for_update()
            .filter(task=task, labeler=labeler, is_current=True)
            .first()
        )
        version = 1
        if previous is not None:
            previous.is_current = False
            previous.save(update_fields=["is_current"])
            version = previous.version + 1
        ranking = Ranking.objects.create(
            task=task,
            labeler=labeler,
            assignment=assignment,
            version=version,
            supersedes=previous,
            comment=comment,
            seconds_spent=seconds_spent,
            all_unacceptable=all_unacceptable,
            submission_key=submission_key,
        )
        written = RankingItem.objects.bulk_create(
            RankingItem(
                ranking=ranking,
                response_id=response_id,
                rank=item.rank,
                likert=item.likert,
                flags=list(item.flags),
            )
            for response_id, item in zip(responses, items, strict=True)
        )
    # What was just written, for callers that show it back without reading it again.
    ranking.written_items = written
    return ranking
