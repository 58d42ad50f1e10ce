"""Celery tasks for labeling; thin callers of the plain modules."""

from celery import shared_task

from labeling.assignment import engine as assignment


@shared_task(name="labeling.expire_leases")
def expire_leases():
    """Return expired assignments' slots to the pool (schedule it with celery beat)."""
    return assignment.expire_leases()
