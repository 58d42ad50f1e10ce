"""Celery tasks of pipelines: thin callers of ``pipelines.retraining`` and ``.service``."""

from celery import shared_task

from . import retraining, service


@shared_task(name="pipelines.run_schedule")
def run_schedule(schedule_id: int) -> str:
    """A retraining schedule's beat entry (its PeriodicTask): the check, or the snapshot."""
    return retraining.run_schedule(schedule_id)


@shared_task(name="pipelines.advance_running")
def advance_running() -> int:
    """Move every running pipeline on (beat, every 30 s): loop pipelines started from the API
    and retrain chains have no command polling them."""
    return service.advance_running()
