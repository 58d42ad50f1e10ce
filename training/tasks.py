"""Celery tasks: thin callers of ``training.jobs`` and ``training.lifecycle``.

Jobs run on the ``training`` and ``generation`` queues; the sweep of lost jobs runs on
``default`` (beat), beside lease expiry and exports, so it never waits behind a long job.
"""

from celery import Task, shared_task
from celery.signals import worker_ready
from django.db import close_old_connections, connections

from . import jobs, lifecycle


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


@shared_task(name="training.run_training_job", base=JobTask, bind=True)
def run_training_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.worker()).status


@shared_task(name="training.run_generation_job", base=JobTask, bind=True)
def run_generation_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.worker()).status


@shared_task(name="training.requeue_stale_jobs")
def requeue_stale_jobs():
    return lifecycle.requeue_stale()


@worker_ready.connect
def recover_jobs_of_this_worker(sender, **kwargs):
    """A worker that starts takes back the jobs still running under its name: it died with
    them. (The main process runs this before its pool takes any message.)"""
    lifecycle.recover_worker(sender.hostname)
    connections.close_all()  # the pool processes forked later must not share this connection
