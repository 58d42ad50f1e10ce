"""Running a claimed job: the engine in this process, or under ``accelerate launch`` when the
job asks for several processes, with a heartbeat, progress, metrics, the log tail and
cancellation.

The engine is Django-free; it reports through one callback object (``Recorder``):
``recorder(step, total, metrics)`` after every optimizer step (or generation batch),
``recorder.poll()`` between evaluation and generation batches, ``recorder.resumed(step)`` once
when it restored saved state. Each of the first two raises ``JobStopped`` when the job was
cancelled, or taken from this worker, meanwhile; the engine stops there, at a step boundary,
and nothing of the run is registered.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import connection

from . import lifecycle
from .joblog import LogTail, capture
from .models import JobMetric, TrainingJob

log = logging.getLogger(__name__)
LOG_EVERY_S = 1.0
POLL_EVERY_S = 0.5


class JobStopped(Exception):
    """The job was cancelled, or is no longer this worker's (it was requeued elsewhere)."""


class Heartbeat:
    """Beats ``heartbeat_at`` every ``PREFLAB_JOB_HEARTBEAT_S`` from a thread of its own, so a
    long save or evaluation in the job's thread does not look like a dead worker."""

    def __init__(self, job_id: int, worker: str, every: float | None = None):
        self.job_id, self.worker = job_id, worker
        self.every = every or settings.PREFLAB_JOB_HEARTBEAT_S
        self.lost = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=30)

    def _run(self):
        try:
            while not self.done.wait(self.every):
                try:
                    if not lifecycle.beat(self.job_id, self.worker):
                        self.lost.set()
                        return
                except Exception:  # the database may be away for a moment: beat again later
                    log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


class Recorder:
    """The engine's callback: a metric row per step, progress, log tail, stop checks."""

    def __init__(self, job, worker: str, tail: LogTail, heartbeat: Heartbeat | None = None):
        self.job, self.worker, self.tail, self.heartbeat = job, worker, tail, heartbeat
        self.last_row: tuple[int, dict] | None = None
        self.progress = job.progress
        self.last_log = self.last_poll = 0.0

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        if self.heartbeat is not None and self.heartbeat.lost.is_set():
            self.stop()
        values = {k: v for k, v in metrics.items() if is_number(v)}
        if self.last_row and self.last_row[0] == step:  # e.g. a final evaluation of the last step
            values = {**self.last_row[1], **values}
        self.last_row = (step, values)
        self.progress = min(max(step / total if total else 0.0, 0.0), 1.0)
        if step >= total or time.monotonic() - self.last_log >= LOG_EVERY_S:
            self.last_log = time.monotonic()
            shown = " ".join(f"{k}={_fmt(v)}" for k, v in values.items())
            log.info("step %s/%s %s", step, total, shown)
        # One conditional UPDATE saves the progress and says whether the job still runs here;
        # only then is the step stored. Every step is stored before the engine goes on (and
        # before it saves that step's state): a run killed at any moment leaves no gap, and a
        # step reported again after a resume replaces its row.
        if not self.save(running_only=True):
            self.stop()
        JobMetric.objects.bulk_create(
            [JobMetric(job_id=self.job.pk, step=step, values=values)],
            update_conflicts=True,
            unique_fields=["job", "step"],
            update_fields=["values"],
        )

    def poll(self) -> None:
        if time.monotonic() - self.last_poll >= POLL_EVERY_S:
            self.last_poll = time.monotonic()
            lost = self.heartbeat is not None and self.heartbeat.lost.is_set()
            if lost or not lifecycle.still_running(self.job.pk, self.worker):
                self.stop()

    def resumed(self, step: int) -> None:
        log.info("resumed from step %s (attempt %s)", step, self.job.attempts)
        TrainingJob.objects.filter(pk=self.job.pk, worker=self.worker).update(
            resumed_from_step=step
        )
        self.job.resumed_from_step = step

    def stop(self):
        self.save()
        raise JobStopped()

    def save(self, running_only: bool = False) -> bool:
        """Progress and (when it changed) the log tail; ``running_only``: only while the job
        is running under this worker. True when the row was written."""
        fields = {"progress": self.progress}
        if self.tail.changed:
            self.tail.changed = False
            fields["log_tail"] = self.tail.text()
        rows = TrainingJob.objects.filter(pk=self.job.pk, worker=self.worker)
        if running_only:
            rows = rows.filter(status=TrainingJob.Status.RUNNING)
        if rows.update(**fields):
            return True
        self.tail.changed = "log_tail" in fields or self.tail.changed  # not written: next time
        return False


def execute(job, worker: str, config, inputs: dict) -> dict:
    """Run the engine for a claimed job; returns the engine's result. Raises JobStopped when
    cancelled, or the engine's exception (its traceback is in the log tail by then)."""
    from training.engine.registry import entry_point

    tail = LogTail(job.log_tail)
    tail.add(f"--- attempt {job.attempts} on {worker}")
    with Heartbeat(job.pk, worker) as heartbeat, capture(tail):
        recorder = Recorder(job, worker, tail, heartbeat)
        try:
            if job.processes > 1:
                from .launcher import launch

                result = launch(job, config, inputs, recorder)
            else:
                result = entry_point(job.kind)(config, **inputs, callback=recorder)
        except JobStopped:
            log.info("job %s stopped: cancelled or taken over", job.pk)
            raise
        except Exception:
            log.exception("job %s failed", job.pk)
            raise
        finally:
            recorder.save()
    return result


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
