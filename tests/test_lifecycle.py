"""training.lifecycle: every move a conditional UPDATE from the state it expects."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from training import lifecycle
from training.models import Checkpoint, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(project):
    return TrainingJob.objects.create(project=project, kind="sft")


@pytest.fixture
def max_attempts(settings):
    settings.PREFLAB_JOB_MAX_ATTEMPTS = 3
    return 3


def reload(job):
    job.refresh_from_db()
    return job


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_job_is_claimed_once_and_each_claim_is_an_attempt(job):
    assert lifecycle.claim(job.pk, "w@h:1") is True
    assert lifecycle.claim(job.pk, "w@h:2") is False
    job = reload(job)
    assert (job.status, job.worker, job.attempts) == ("running", "w@h:1", 1)
    assert job.heartbeat_at is not None and job.started_at is not None


def test_a_cancel_is_never_overwritten_by_a_late_outcome(job, project):
    lifecycle.claim(job.pk, "w@h:1")
    assert lifecycle.cancel(job) is True
    registered = []
    # the engine finished just after the cancel: its success moves nothing, registers nothing
    assert lifecycle.succeed(job, "w@h:1", lambda: registered.append(1)) is False
    assert lifecycle.fail(job.pk, "w@h:1", "boom") is False
    job = reload(job)
    assert job.status == "cancelled" and job.output_checkpoint is None and registered == []
    assert Checkpoint.objects.count() == 0


def test_success_registers_its_output_in_the_same_move(job):
    lifecycle.claim(job.pk, "w@h:1")
    # a heartbeat or outcome from another process of another attempt moves nothing
    assert lifecycle.beat(job.pk, "w@h:9") is False
    assert lifecycle.succeed(job, "w@h:9") is False
    assert lifecycle.beat(job.pk, "w@h:1") is True
    ok = lifecycle.succeed(
        job, "w@h:1", lambda: Checkpoint.objects.create(name="out", kind="sft", path="/x")
    )
    job = reload(job)
    assert ok and job.status == "succeeded" and job.output_checkpoint.name == "out"
    assert job.progress == 1.0 and job.finished_at is not None


def test_cancel_and_retry_refuse_what_their_state_does_not_allow(
    job, django_capture_on_commit_callbacks
):
    with pytest.raises(lifecycle.TransitionError, match="status: .*only failed or cancelled"):
        lifecycle.retry(job)
    lifecycle.claim(job.pk, "w@h:1")
    lifecycle.fail(job.pk, "w@h:1", "RuntimeError: out of memory")
    with pytest.raises(lifecycle.TransitionError, match="is failed; only queued"):
        lifecycle.cancel(job)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert lifecycle.retry(job) is True
    assert len(callbacks) == 1  # enqueued after commit
    job = reload(job)
    assert job.status == "retrying"
    assert lifecycle.claim(job.pk, "w@h:2") and reload(job).attempts == 2


def test_a_lost_job_is_requeued_until_the_attempts_run_out(
    job, max_attempts, django_capture_on_commit_callbacks
):
    for attempt in range(1, max_attempts + 1):
        assert lifecycle.claim(job.pk, f"w@h:{attempt}")
        job = reload(job)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            new = lifecycle.requeue_lost(job, "worker lost")
        if attempt < max_attempts:
            assert new == "retrying" and len(callbacks) == 1
        else:
            assert new == "failed" and callbacks == []
    job = reload(job)
    assert job.status == "failed" and job.attempts == 3
    assert job.error == "worker lost; gave up after 3 attempts"


def test_requeue_moves_nothing_when_someone_moved_it_first(job):
    lifecycle.claim(job.pk, "w@h:1")
    job = reload(job)
    lifecycle.cancel(job)
    assert lifecycle.requeue_lost(job, "worker lost") == ""
    assert reload(job).status == "cancelled"


def test_a_worker_that_starts_takes_back_the_jobs_it_died_with(project, job):
    other = TrainingJob.objects.create(project=project, kind="rm")
    lifecycle.claim(job.pk, "training@h1:100")
    lifecycle.claim(other.pk, "training@h2:100")
    assert lifecycle.recover_worker("training@h1") == [job.pk]
    assert reload(job).status == "retrying" and reload(other).status == "running"
    assert "restarted while running it" in reload(job).error


def test_a_dead_pid_of_this_worker_is_a_lost_job(job):
    pid = dead_pid()
    lifecycle.claim(job.pk, f"training@h1:{pid}")
    job = reload(job)
    assert lifecycle.lost_by_this_worker(job, "training@h1") is True
    assert lifecycle.lost_by_this_worker(job, "training@h2") is False  # another host's pid
    lifecycle.claim(job.pk, "x")  # no-op: still running
    TrainingJob.objects.filter(pk=job.pk).update(worker=f"training@h1:{os.getpid()}")
    assert lifecycle.lost_by_this_worker(reload(job), "training@h1") is False  # alive


def test_the_sweep_requeues_jobs_whose_heartbeat_stopped(project, job, settings):
    settings.PREFLAB_JOB_STALE_AFTER_S = 120
    fresh = TrainingJob.objects.create(project=project, kind="rm")
    lifecycle.claim(job.pk, "w@h:1")
    lifecycle.claim(fresh.pk, "w@h:2")
    TrainingJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=121)
    )
    assert lifecycle.requeue_stale() == [job.pk]
    assert reload(job).status == "retrying" and reload(fresh).status == "running"
    assert "no heartbeat for 120 s" in reload(job).error
