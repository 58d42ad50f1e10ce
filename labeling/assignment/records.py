"""What the labeling round hands back: plain records, not model instances.

`next` and submit build these straight from the rows their statements read or wrote
(``sql.py``), and the API serializes them as they are; the list and detail endpoints build
the same records from ORM instances (``of``), so one representation serves both. Field
names are the API's.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Lease:
    """A labeler's assignment of a task: a slot held until ``expires_at``."""

    id: int
    task_id: int
    labeler_id: int
    status: str
    leased_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, assignment) -> "Lease":
        return cls(
            id=assignment.id,
            task_id=assignment.task_id,
            labeler_id=assignment.labeler_id,
            status=assignment.status,
            leased_at=assignment.leased_at,
            expires_at=assignment.expires_at,
        )


@dataclass(slots=True)
class TaskPrompt:
    id: int
    text: str
    messages: list | None
    category: str


@dataclass(slots=True)
class TaskResponse:
    """A task's response at its canonical position."""

    position: int
    id: int
    text: str


@dataclass(slots=True)
class TaskRecord:
    """A ranking task as a labeler is shown it (``is_gold``/``gold_ranks`` are withheld from
    labelers by the serializer, not here)."""

    id: int
    project: str  # slug
    project_id: int
    prompt: TaskPrompt
    k: int
    overlap: int
    source: str
    is_gold: bool
    gold_ranks: list | None
    responses: list[TaskResponse]
    created_at: datetime

    @classmethod
    def of(cls, task) -> "TaskRecord":
        """From a RankingTask with ``project``, ``prompt`` and ``task_responses__response``
        loaded (prefetched); responses in position order."""
        prompt = task.prompt
        items = sorted(task.task_responses.all(), key=lambda item: item.position)
        return cls(
            id=task.id,
            project=task.project.slug,
            project_id=task.project_id,
            prompt=TaskPrompt(prompt.id, prompt.text, prompt.messages, prompt.category),
            k=task.k,
            overlap=task.overlap,
            source=task.source,
            is_gold=task.is_gold,
            gold_ranks=task.gold_ranks,
            responses=[TaskResponse(i.position, i.response.id, i.response.text) for i in items],
            created_at=task.created_at,
        )


@dataclass(slots=True)
class RankedItem:
    """One response's judgement within a ranking."""

    id: int
    response: int  # the response's id
    rank: int
    likert: int | None
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RankingRecord:
    """A recorded ranking; ``items`` best first (by rank, then id)."""

    id: int
    task: int  # the task's id
    labeler_id: int
    labeler: str  # username
    assignment_id: int | None
    version: int
    supersedes: int | None  # the ranking this one replaced
    is_current: bool
    all_unacceptable: bool
    comment: str
    seconds_spent: float
    submission_key: str
    submitted_at: datetime
    items: list[RankedItem]

    @classmethod
    def of(cls, ranking) -> "RankingRecord":
        """From a Ranking with ``labeler`` and ``items`` loaded."""
        items = sorted(ranking.items.all(), key=lambda item: (item.rank, item.id))
        return cls(
            id=ranking.id,
            task=ranking.task_id,
            labeler_id=ranking.labeler_id,
            labeler=ranking.labeler.get_username(),
            assignment_id=ranking.assignment_id,
            version=ranking.version,
            supersedes=ranking.supersedes_id,
            is_current=ranking.is_current,
            all_unacceptable=ranking.all_unacceptable,
            comment=ranking.comment,
            seconds_spent=float(ranking.seconds_spent),
            submission_key=ranking.submission_key,
            submitted_at=ranking.submitted_at,
            items=[RankedItem(i.id, i.response_id, i.rank, i.likert, i.flags) for i in items],
        )
