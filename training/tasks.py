"""Celery tasks: thin callers of ``training.jobs`` and ``training.lifecycle``.

Jobs run on the ``training`` and ``generation`` queues; the sweep of lost jobs and the outbox's
sender of unsent jobs run on ``default`` (beat), beside lease expiry, so they never wait
behind a long job.
"""

import logging
import os
import signal

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from . import dispatch, jobs, lifecycle

log = logging.getLogger(__name__)


class JobTask(Task):
    """One job per message. ``acks_late`` + ``reject_on_worker_lost``: a message whose pool
    process died (SIGKILL, out of memory) goes back to the broker instead of being dropped;
    the worker that gets it again sees the job's dead pid and requeues it (``run_job``)."""

    acks_late = True
    reject_on_worker_lost = True
    # a job's own failures are recorded on its row; a message must never be retried by Celery
    max_retries = 0

    def worker(self) -> str:
        return lifecycle.worker_id(self.request.hostname)

    def before_start(self, task_id, args, kwargs):
        close_old_connections()

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # run_job records the engine's errors itself; this is an error around it (the
        # database went away mid-record): the row must not stay `running` for the sweep only
        lifecycle.fail(args[0], self.worker(), f"{exc!r}")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        close_old_connections()
        if settings.PREFLAB_WORKER_EXIT_AFTER_JOB:
            # a solo-pool worker recycles itself: a warm shutdown once this message is
            # acknowledged; its supervisor (runplatform) starts a fresh process
            os.kill(os.getpid(), signal.SIGTERM)


@shared_task(name="training.run_training_job", base=JobTask, bind=True)
def run_training_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.worker()).status


@shared_task(name="training.run_generation_job", base=JobTask, bind=True)
def run_generation_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.worker()).status


@shared_task(name="training.requeue_stale_jobs")
def requeue_stale_jobs():
    return lifecycle.requeue_stale()


@shared_task(name="training.send_unsent_jobs")
def send_unsent_jobs():
    """The outbox's beat task: jobs queued while the broker was down are sent now."""
    return dispatch.send_unsent()


@worker_ready.connect
def recover_jobs_of_this_worker(sender, **kwargs):
    """A worker that starts takes back the jobs still running under its name: it died with
    them, and sends the jobs queued while the broker was down (its broker is up: it just
    connected). (The main process runs this before its pool takes any message.)"""
    try:
        lifecycle.recover_worker(sender.hostname)
        dispatch.send_unsent()
    except DatabaseError:  # not migrated yet, or away: the beat sweep catches up later
        log.exception("worker %s: could not take back its jobs", sender.hostname)
    connections.close_all()  # the pool processes forked later must not share this connection
