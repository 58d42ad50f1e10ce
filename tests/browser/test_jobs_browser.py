"""The training console in headless Chromium: a job's curves drawn by plotly and redrawn by
htmx's polling, a cancel from the jobs list, labelers and reviewers refused, and (with
JOBS_SCREENSHOTS=folder) pictures of both pages on a desktop and a phone."""

import datetime as dt
import math
import os

import pytest
from django.urls import reverse
from django.utils import timezone

from training import lifecycle
from training.models import Checkpoint, DatasetSnapshot, JobMetric, TrainingJob

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def _points(page, div):
    return page.locator(f"#{div} .scatterlayer .points path").count()


def test_the_job_page_draws_its_curves_and_follows_the_run(page, login, project, project_admin):
    job = TrainingJob.objects.create(project=project, kind="sft", created_by=project_admin)
    lifecycle.claim(job.pk, "worker@test:1")
    for step in (1, 2, 3):
        JobMetric.objects.create(
            job=job, step=step, values={"train/loss": 2.0 / step, "eval/loss": 2.2 / step}
        )
    login(page, project_admin)
    page.goto(reverse("dashboard-job", args=[project.slug, job.pk]))
    page.wait_for_selector("#chart-train .main-svg")
    assert page.locator("#chart-train .scatterlayer .trace").count() == 1
    assert _points(page, "chart-train") == 3
    assert _points(page, "chart-eval") == 3

    # the worker logs a step: the next poll swaps the fragment in, and its chart script runs
    JobMetric.objects.create(job=job, step=4, values={"train/loss": 0.4})
    page.wait_for_function(
        "document.querySelectorAll('#chart-train .scatterlayer .points path').length === 4",
        timeout=10_000,
    )
    lifecycle.succeed(job, "worker@test:1")
    page.wait_for_selector("#job-status:text('succeeded')", timeout=10_000)
    assert page.locator("#job-live[hx-trigger]").count() == 0  # finished: the polling stopped
    assert _points(page, "chart-train") == 4


def test_a_queued_job_is_cancelled_from_the_jobs_list(page, login, project, project_admin):
    done = TrainingJob.objects.create(project=project, kind="rm", status="succeeded", progress=1)
    job = TrainingJob.objects.create(project=project, kind="sft", created_by=project_admin)
    login(page, project_admin)
    page.goto(reverse("dashboard-jobs", args=[project.slug]))
    assert page.locator(f"tr[data-job='{done.pk}'] button").count() == 0
    page.locator(f"tr[data-job='{job.pk}'] button.job-cancel").click()
    row = page.locator(f"tr[data-job='{job.pk}'][data-status='cancelled']")
    row.wait_for()
    assert row.locator(".job-status").inner_text() == "cancelled"
    assert page.locator(".messages li").inner_text() == f"Job {job.pk} cancelled."
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert page.locator(f"tr[data-job='{job.pk}'] button.job-retry").count() == 1


def test_labelers_and_reviewers_are_refused(page, login, project, labeler, reviewer):
    job = TrainingJob.objects.create(project=project, kind="sft")
    for user in (labeler, reviewer):
        page.context.clear_cookies()
        login(page, user)
        for url in (
            reverse("dashboard-jobs", args=[project.slug]),
            reverse("dashboard-job", args=[project.slug, job.pk]),
        ):
            assert page.goto(url).status == 403, (user.username, url)


def _console_world(project, user, tmp_path):
    """A few jobs in every state, and a PPO run with curves in most groups and an alarm."""
    now = timezone.now()
    sft_out = Checkpoint.objects.create(name="tiny-sft-r0", kind="sft", path=str(tmp_path))
    rm_out = Checkpoint.objects.create(name="tiny-rm-r1", kind="rm", path=str(tmp_path))
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="prompts", content_hash="cd" * 32, path=str(tmp_path), n_rows=240
    )
    TrainingJob.objects.create(
        project=project, kind="sft", status="succeeded", progress=1, attempts=1,
        output_checkpoint=sft_out, created_by=user,
    )  # fmt: skip
    TrainingJob.objects.create(
        project=project, kind="rm", status="succeeded", progress=1, attempts=2,
        output_checkpoint=rm_out, created_by=user,
    )  # fmt: skip
    TrainingJob.objects.create(
        project=project, kind="generate", status="failed", progress=0.31, attempts=3,
        error="CUDA out of memory", created_by=user,
    )  # fmt: skip
    ppo = TrainingJob.objects.create(
        project=project,
        kind="ppo",
        status="running",
        progress=0.4,
        attempts=1,
        worker="celery@gpu-1:4242",
        started_at=now - dt.timedelta(minutes=20),
        heartbeat_at=now - dt.timedelta(seconds=4),
        snapshot=snapshot,
        base_checkpoint=sft_out,
        created_by=user,
        config={"kl_alarm": 5.0, "learning_rate": 1e-5, "batch_size": 16, "kl_coef": 0.05},
        log_tail="INFO training.engine.ppo: step 39 kl 5.6 reward 1.21\n" * 12,
    )
    for step in range(1, 41):
        values = {
            "objective/kl": 0.15 * step,
            "objective/rlhf_reward": 1.2 * (1 - math.exp(-step / 12)),
            "objective/scores": 1.3 * (1 - math.exp(-step / 10)),
            "policy/approxkl": 0.02 + 0.01 * math.sin(step),
            "policy/clipfrac": 0.1 + 0.03 * math.cos(step),
            "val/value_loss": 1.0 / step**0.5,
            "response/mean_length": 60 + step,
            "watch/length_ratio": 1 + step / 100,
            "time/step_s": 1.4 + 0.1 * math.sin(step / 3),
        }
        if step == 34:
            values["alarm/kl"] = values["objective/kl"]
        JobMetric.objects.create(job=ppo, step=step, values=values)
    TrainingJob.objects.create(project=project, kind="evaluate", created_by=user)
    return ppo


@pytest.mark.skipif(not os.environ.get("JOBS_SCREENSHOTS"), reason="pictures only when asked")
def test_screenshots(new_page, login, project, project_admin, tmp_path):
    folder = os.environ["JOBS_SCREENSHOTS"]
    ppo = _console_world(project, project_admin, tmp_path)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport)
        login(page, project_admin)
        page.goto(reverse("dashboard-jobs", args=[project.slug]))
        page.wait_for_selector("#jobs tbody tr")
        page.screenshot(path=os.path.join(folder, f"jobs-{name}.png"), full_page=True)
        page.goto(reverse("dashboard-job", args=[project.slug, ppo.pk]))
        page.wait_for_selector("#chart-time .main-svg")
        page.wait_for_timeout(500)  # the load event's resize
        page.screenshot(path=os.path.join(folder, f"job-{name}.png"), full_page=True)
