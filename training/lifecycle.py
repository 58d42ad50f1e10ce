"""A training job's lifecycle: one state machine, every move a conditional UPDATE.

    queued ───claim──▶ running ──succeed──▶ succeeded
    retrying ─claim──▶ running ──fail─────▶ failed ────retry──▶ retrying
                         │     ──cancel───▶ cancelled ─retry──▶ retrying
                         └──requeue_lost──▶ retrying   (failed once attempts reach the maximum)
    queued, retrying ──cancel──▶ cancelled

Each function moves a job only from the states it expects (``UPDATE … WHERE status IN …``)
and says whether it did. So a cancel is never overwritten by a late success or failure: the
one that commits first wins, and the other moves nothing. ``succeed`` registers the job's
output (a checkpoint, generated tasks) in the same transaction as its move, so a job that
ends cancelled or failed never has one.

A running job carries ``worker`` = ``<celery worker name>:<pid>``, and beats ``heartbeat_at``
from a thread of that process (``training.runner``). A job whose process is gone goes back
to the queue (``requeue_lost``) in three ways: a worker that starts takes back the jobs
recorded under its own name (it died with them), a worker that is handed a job whose pid of
its own is dead takes it back (a pool process was killed and the broker redelivered the
message), and the beat task ``training.requeue_stale_jobs`` takes back any job whose
heartbeat is older than ``PREFLAB_JOB_STALE_AFTER_S``.
"""

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.errors import ServiceError

from .models import TrainingJob

log = logging.getLogger(__name__)
Status = TrainingJob.Status


class TransitionError(ServiceError):
    """A move the job's current state does not allow."""

    def __init__(self, message: str):
        super().__init__("status", message)


def worker_id(name: str = "") -> str:
    """What a running job records as its worker: the Celery worker's name and this pid."""
    return f"{name or 'cli@' + socket.gethostname()}:{os.getpid()}"


def _jobs(job_id: int):
    return TrainingJob.objects.filter(pk=job_id)


def claim(job_id: int, worker: str) -> bool:
    """queued | retrying → running; one more attempt. False when it is not waiting."""
    now = timezone.now()
    return (
        _jobs(job_id)
        .filter(status__in=TrainingJob.WAITING)
        .update(
            status=Status.RUNNING,
            worker=worker,
            attempts=F("attempts") + 1,
            resumed_from_step=None,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), now),
            finished_at=None,
            error="",
        )
        == 1
    )


def beat(job_id: int, worker: str) -> bool:
    """The heartbeat; False once the job is no longer running under this worker."""
    running = _jobs(job_id).filter(status=Status.RUNNING, worker=worker)
    return running.update(heartbeat_at=timezone.now()) == 1


def still_running(job_id: int, worker: str) -> bool:
    return _jobs(job_id).filter(status=Status.RUNNING, worker=worker).exists()


def succeed(job, worker: str, register_output=None) -> bool:
    """running → succeeded, and the output registered with it, or nothing at all.

    ``register_output()`` runs inside the transaction after the move and returns the output
    checkpoint (or None); when the move fails (the job was cancelled meanwhile), it never runs.
    """
    with transaction.atomic():
        moved = (
            _jobs(job.pk)
            .filter(status=Status.RUNNING, worker=worker)
            .update(status=Status.SUCCEEDED, progress=1.0, finished_at=timezone.now())
        )
        if not moved:
            return False
        output = register_output() if register_output is not None else None
        if output is not None:
            _jobs(job.pk).update(output_checkpoint=output)
    return True


def fail(job_id: int, worker: str, error: str) -> bool:
    """running → failed, with the reason."""
    return (
        _jobs(job_id)
        .filter(status=Status.RUNNING, worker=worker)
        .update(status=Status.FAILED, error=error, finished_at=timezone.now())
        == 1
    )


def cancel(job) -> bool:
    """queued | retrying | running → cancelled. A running job's process notices within a step
    (``training.runner``) and stops without registering anything."""
    moved = (
        _jobs(job.pk)
        .filter(status__in=TrainingJob.ACTIVE)
        .update(status=Status.CANCELLED, finished_at=timezone.now())
    )
    if not moved:
        raise TransitionError(
            f"job {job.pk} is {_status(job)}; only queued, retrying or running jobs can be "
            "cancelled"
        )
    return True


def retry(job) -> bool:
    """failed | cancelled → retrying, queued again after commit; it resumes from its state.
    Refused with ``dispatch.BrokerUnavailable`` (nothing moved) while the job queue is down."""
    from .dispatch import require_broker

    require_broker()
    with transaction.atomic():
        moved = (
            _jobs(job.pk)
            .filter(status__in=[Status.FAILED, Status.CANCELLED])
            .update(status=Status.RETRYING, worker="", finished_at=None, sent_at=None)
        )
        if not moved:
            raise TransitionError(
                f"job {job.pk} is {_status(job)}; only failed or cancelled jobs can be retried"
            )
        _enqueue_on_commit(job.pk)
    return True


def requeue_lost(job, reason: str) -> str:
    """A running job whose process is gone: back to the queue (after commit), or ``failed`` once
    it has had ``PREFLAB_JOB_MAX_ATTEMPTS`` attempts. Returns the new status, "" if it was no
    longer running under the worker it had when read (someone else moved it first)."""
    max_attempts = settings.PREFLAB_JOB_MAX_ATTEMPTS
    running = _jobs(job.pk).filter(status=Status.RUNNING, worker=job.worker)
    with transaction.atomic():
        if job.attempts < max_attempts:
            if not running.update(status=Status.RETRYING, worker="", error=reason, sent_at=None):
                return ""
            _enqueue_on_commit(job.pk)
            new = Status.RETRYING
        else:
            error = f"{reason}; gave up after {job.attempts} attempts"
            if not running.update(status=Status.FAILED, error=error, finished_at=timezone.now()):
                return ""
            new = Status.FAILED
    log.warning("job %s: %s (attempt %s) -> %s", job.pk, reason, job.attempts, new)
    return new


def recover_worker(name: str) -> list[int]:
    """At a worker's start: every job still running under its name died with its last run."""
    lost = TrainingJob.objects.filter(status=Status.RUNNING, worker__startswith=f"{name}:")
    reason = f"worker {name} restarted while running it"
    return [job.pk for job in lost if requeue_lost(job, reason)]


def lost_by_this_worker(job, name: str) -> bool:
    """The job runs under this worker's name, but the pid it recorded is dead (this host)."""
    recorded, _, pid = job.worker.rpartition(":")
    if job.status != Status.RUNNING or recorded != name or not pid.isdigit():
        return False
    return not _alive(int(pid))


def requeue_stale() -> list[int]:
    """The beat task's sweep: running jobs whose heartbeat stopped."""
    timeout = settings.PREFLAB_JOB_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = TrainingJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
    reason = f"no heartbeat for {timeout:g} s (worker lost)"
    return [job.pk for job in stale if requeue_lost(job, reason)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead all the same
        return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def _status(job) -> str:
    return TrainingJob.objects.values_list("status", flat=True).get(pk=job.pk)


def _enqueue_on_commit(job_id: int) -> None:
    from .jobs import enqueue_job

    transaction.on_commit(lambda: enqueue_job(job_id))
