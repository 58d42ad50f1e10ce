"""`manage.py job show|cancel|retry ID`."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training import lifecycle
from training.models import JobMetric, TrainingJob

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("job", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def job(project, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    job = TrainingJob.objects.create(project=project, kind="rm", config={"lr": 1e-3})
    lifecycle.claim(job.pk, "training@h:1")
    JobMetric.objects.create(job=job, step=1, values={"train/loss": 0.69})
    JobMetric.objects.create(job=job, step=2, values={"train/loss": 0.61})
    return job


def test_show(job):
    text = run("show", str(job.pk))
    assert f"job {job.pk}: rm in campaign, running" in text
    assert "attempts          1" in text and "training@h:1" in text
    assert "step 2: train/loss=0.61" in text
    data = json.loads(run("show", str(job.pk), "--json"))
    assert data["attempts"] == 1 and [m["step"] for m in data["metrics"]] == [1, 2]


def test_cancel_then_retry(job):
    assert run("cancel", str(job.pk)).strip() == f"job {job.pk} is cancelled"
    with pytest.raises(CommandError, match="status: .* is cancelled; only queued"):
        run("cancel", str(job.pk))
    assert run("retry", str(job.pk)).strip() == f"job {job.pk} is retrying"
    with pytest.raises(CommandError, match="id: no job 999999"):
        run("show", "999999")


def test_rerun(project, make_task, labeler, settings, tmp_path):
    from training import jobs

    from .training_world import fill_campaign

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    fill_campaign(project, make_task, labeler, n=4, validation_every=4)
    original = jobs.create_job(project, "generate", {"k": 2}, enqueue=False)
    text = run("rerun", str(original.pk))
    rerun = TrainingJob.objects.exclude(pk=original.pk).get()
    assert text.strip() == f"job {rerun.pk} (generate) queued: a re-run of job {original.pk}"
    assert (rerun.snapshot, rerun.config, rerun.rerun_of) == (
        original.snapshot,
        original.config,
        original,
    )
    legacy = TrainingJob.objects.create(project=project, kind="sft")  # froze nothing
    with pytest.raises(CommandError, match="snapshot: job .* froze no snapshot"):
        run("rerun", str(legacy.pk))
