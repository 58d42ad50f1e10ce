"""`manage.py pipeline cancel ID` and `pipeline show ID [--json]`."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipelines import service

from .test_pipelines import base, campaign, finish, stage_of  # noqa: F401


def pipeline_command(*args) -> str:
    out = StringIO()
    call_command("pipeline", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_show_and_cancel(campaign, base, tmp_path, settings):  # noqa: F811
    settings.CELERY_TASK_ALWAYS_EAGER = False
    pipeline = service.advance(service.start_pipeline(campaign, base=base))
    sft = stage_of(pipeline, "sft", 0)
    shown = json.loads(pipeline_command("show", pipeline.pk, "--json"))
    assert shown == json.loads(json.dumps(service.describe(pipeline)))
    assert shown["status"] == "running" and shown["stages"][0]["job"] == sft.job_id
    text = pipeline_command("show", pipeline.pk)
    assert text.startswith(f"pipeline {pipeline.pk} of campaign: running (loop, simulated, 1 ")
    assert f"round 0 sft: running (job {sft.job_id})" in text

    assert pipeline_command("cancel", pipeline.pk).strip() == f"pipeline {pipeline.pk} cancelled"
    sft.refresh_from_db()
    assert sft.job.status == "cancelled" and sft.status == "failed"
    text = pipeline_command("show", pipeline.pk)
    assert "error: cancelled" in text and f"job {sft.job_id} cancelled: cancelled" in text
    with pytest.raises(CommandError, match="status: pipeline .* is cancelled; only a running"):
        pipeline_command("cancel", pipeline.pk)


def test_an_unknown_pipeline_is_refused(db):
    with pytest.raises(CommandError, match="no pipeline 999999"):
        pipeline_command("show", 999999)
    with pytest.raises(CommandError, match="no pipeline 999999"):
        pipeline_command("cancel", 999999)


def test_run_pipeline_resume_leaves_a_cancelled_pipeline_alone(campaign, base, settings):  # noqa: F811
    settings.CELERY_TASK_ALWAYS_EAGER = False
    pipeline = service.advance(service.start_pipeline(campaign, base=base))
    service.cancel_pipeline(pipeline)
    with pytest.raises(CommandError, match="has no failed or running pipeline"):
        call_command("run_pipeline", "--project", campaign.slug, "--resume")
