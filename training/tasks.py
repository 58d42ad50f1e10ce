"""Celery tasks: thin callers of training.jobs (routed to the training / generation queues)."""

from celery import shared_task

from . import jobs


@shared_task(name="training.run_training_job", bind=True, acks_late=True)
def run_training_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.request.hostname or "").status


@shared_task(name="training.run_generation_job", bind=True, acks_late=True)
def run_generation_job(self, job_id: int):
    return jobs.run_job(job_id, worker=self.request.hostname or "").status
