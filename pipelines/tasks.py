"""Celery tasks of scheduled retraining: thin callers of ``pipelines.retraining``."""

from celery import shared_task

from . import retraining


@shared_task(name="pipelines.run_schedule")
def run_schedule(schedule_id: int) -> str:
    """A retraining schedule's beat entry (its PeriodicTask): the check, or the snapshot."""
    return retraining.run_schedule(schedule_id)


@shared_task(name="pipelines.advance_chains")
def advance_chains() -> int:
    """Move running retrain pipelines on (beat, every 30 s): no command drives them."""
    return retraining.advance_chains()
