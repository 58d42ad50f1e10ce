"""The reward model as a judge: score every answer of a campaign once, keep the scores on the
entries (by checkpoint id), and judge from them as often as asked (``judgments.rm_judgments``).

A 135M reward model scores a few hundred answers in seconds on a CPU, so the report command
scores in its own process; the web page queues the same function on a worker
(``tasks.score_campaign``).
"""

from django.db import transaction

from training.models import Checkpoint

from .campaigns import EvaluationError
from .models import Campaign, Entry


def queue_scoring(campaign: Campaign, checkpoint: Checkpoint) -> None:
    """Have a worker score the campaign's answers with ``checkpoint`` once the caller's
    transaction commits. Refused (``BrokerUnavailable``, a 503) while the job queue is down,
    so a request is never accepted into a queue nobody can see."""
    from training.dispatch import require_broker

    from . import tasks

    require_broker()
    transaction.on_commit(lambda: tasks.score_campaign.delay(campaign.pk, checkpoint.pk))


def score_entries(campaign: Campaign, checkpoint: Checkpoint) -> int:
    """Score the answers that have no score from ``checkpoint`` yet; returns how many."""
    from training.engine.reward import score_responses

    if checkpoint.kind != "rm":
        raise EvaluationError("judge", f"checkpoint {checkpoint.pk} is not a reward model")
    key = str(checkpoint.pk)
    todo = [
        entry
        for entry in Entry.objects.filter(contestant__campaign=campaign).select_related(
            "prompt", "response"
        )
        if key not in entry.scores
    ]
    if not todo:
        return 0
    scores = score_responses(
        checkpoint.path,
        [entry.prompt.as_export() for entry in todo],
        [entry.response.text for entry in todo],
    )
    with transaction.atomic():
        for entry, value in zip(todo, scores, strict=True):
            entry.scores = {**entry.scores, key: float(value)}
        Entry.objects.bulk_update(todo, ["scores"])
    return len(todo)
