"""/dashboard/<slug>/jobs/: the training console. The project's admins only (labelers and
reviewers get a 403, anonymous users the login page), cancel and retry through the lifecycle
behind CSRF, curves grouped into one chart per metric prefix, user text escaped."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling import roles
from labeling.models import Project
from pipelines.models import Pipeline, PipelineStage
from training import lifecycle
from training.models import Checkpoint, DatasetSnapshot, JobMetric, TrainingJob
from training.views import duration_text, eta_seconds


@pytest.fixture
def job(project, project_admin):
    return TrainingJob.objects.create(project=project, kind="sft", created_by=project_admin)


def _urls(project, job):
    slug = project.slug
    return [
        reverse("dashboard-jobs", args=[slug]),
        reverse("dashboard-jobs-live", args=[slug]),
        reverse("dashboard-job", args=[slug, job.pk]),
        reverse("dashboard-job-live", args=[slug, job.pk]),
    ]


def _post(client, name, project, job, **data):
    return client.post(reverse(name, args=[project.slug, job.pk]), data)


def test_only_the_projects_admins_see_it(
    client, project, job, labeler, reviewer, project_admin, admin_user
):
    other = Project.objects.create(slug="other", name="Other")
    admin_elsewhere = get_user_model().objects.create_user(username="otto")
    roles.grant(admin_elsewhere, other, "admin")
    for url in _urls(project, job):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
        for refused in (labeler, reviewer, admin_elsewhere):
            client.force_login(refused)
            assert client.get(url).status_code == 403, (url, refused.username)
        for allowed in (project_admin, admin_user):
            client.force_login(allowed)
            assert client.get(url).status_code == 200, (url, allowed.username)
        client.logout()
    client.force_login(admin_user)
    assert client.get(reverse("dashboard-jobs", args=["no-such-project"])).status_code == 404


def test_a_job_of_another_project_is_not_found_here(client, project, admin_user):
    other = Project.objects.create(slug="other", name="Other")
    theirs = TrainingJob.objects.create(project=other, kind="sft")
    client.force_login(admin_user)
    for name in ("dashboard-job", "dashboard-job-live"):
        assert client.get(reverse(name, args=[project.slug, theirs.pk])).status_code == 404
    assert _post(client, "dashboard-job-cancel", project, theirs).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "queued"


def test_the_list_shows_each_job_with_its_actions(client, project, job, project_admin):
    lifecycle.claim(job.pk, "w1:1")
    TrainingJob.objects.filter(pk=job.pk).update(progress=0.25)
    failed = TrainingJob.objects.create(project=project, kind="rm")
    lifecycle.claim(failed.pk, "w1:1")
    lifecycle.fail(failed.pk, "w1:1", "out of memory")
    client.force_login(project_admin)
    html = client.get(reverse("dashboard-jobs", args=[project.slug])).content.decode()
    assert html.index(f'data-job="{failed.pk}"') < html.index(
        f'data-job="{job.pk}"'
    )  # newest first
    assert f'href="{reverse("dashboard-job", args=[project.slug, job.pk])}"' in html
    assert 'value="0.250"' in html and "25%" in html
    assert ">pia<" in html  # who started it
    assert reverse("dashboard-job-cancel", args=[project.slug, job.pk]) in html
    assert reverse("dashboard-job-retry", args=[project.slug, failed.pk]) in html
    assert 'hx-trigger="every 3s"' in html  # a job is running: the table polls
    assert f'href="{reverse("dashboard-jobs", args=[project.slug])}">Jobs</a>' in html  # the tab


def test_cancel_then_retry_move_the_job_through_the_lifecycle(
    client, project, job, project_admin, django_capture_on_commit_callbacks
):
    client.force_login(project_admin)
    response = _post(client, "dashboard-job-cancel", project, job)
    assert response.status_code == 302
    assert response.url == reverse("dashboard-jobs", args=[project.slug])
    job.refresh_from_db()
    assert job.status == "cancelled"
    # nothing active any more: the table's fragment no longer asks to be polled
    live = client.get(reverse("dashboard-jobs-live", args=[project.slug])).content.decode()
    assert "hx-trigger" not in live and "cancelled" in live

    page = _post(client, "dashboard-job-cancel", project, job, next="/x/")  # not any more
    assert page.url == "/x/"
    html = client.get(reverse("dashboard-jobs", args=[project.slug])).content.decode()
    assert "only queued, retrying or running jobs can be cancelled" in html

    with django_capture_on_commit_callbacks() as enqueued:
        job_page = reverse("dashboard-job", args=[project.slug, job.pk])
        response = _post(client, "dashboard-job-retry", project, job, next=job_page)
    assert response.url == job_page
    assert len(enqueued) == 1  # queued again once the move commits
    job.refresh_from_db()
    assert job.status == "retrying"


def test_an_outside_next_is_not_followed(client, project, job, admin_user):
    client.force_login(admin_user)
    response = _post(client, "dashboard-job-cancel", project, job, next="https://evil.example/")
    assert response.url == reverse("dashboard-jobs", args=[project.slug])


def test_moves_need_post_csrf_and_the_admin_role(project, job, project_admin, reviewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert _post(client, "dashboard-job-cancel", project, job).status_code == 403
    client.force_login(project_admin)
    cancel = reverse("dashboard-job-cancel", args=[project.slug, job.pk])
    assert client.get(cancel).status_code == 405
    assert client.post(cancel).status_code == 403  # no CSRF token
    job.refresh_from_db()
    assert job.status == "queued"
    client.get(reverse("dashboard-jobs", args=[project.slug]))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert client.post(cancel, {"csrfmiddlewaretoken": token}).status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_metrics_are_drawn_one_chart_per_prefix(client, project, admin_user):
    job = TrainingJob.objects.create(project=project, kind="ppo", config={"kl_alarm": 5.0})
    JobMetric.objects.create(
        job=job, step=1, values={"objective/kl": 1.0, "train/loss": 2.0, "eval/accuracy": 0.6}
    )
    JobMetric.objects.create(
        job=job, step=2, values={"objective/kl": 6.5, "alarm/kl": 6.5, "note": "text"}
    )
    client.force_login(admin_user)
    html = client.get(reverse("dashboard-job", args=[project.slug, job.pk])).content.decode()
    for div in ("chart-train", "chart-eval", "chart-objective"):
        assert f'id="{div}"' in html
    assert 'id="chart-alarm"' not in html and 'id="chart-other"' not in html
    assert html.index('id="chart-train"') < html.index('id="chart-objective"')
    assert reverse("dashboard-plotly-js") in html
    assert 'id="alarms"' in html and 'data-alarm="kl"' in html and "step 2:" in html
    assert 'hx-trigger="every 3s"' in html  # queued: the live part polls


def test_the_job_page_links_its_lineage(client, project, admin_user, tmp_path):
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="rankings", content_hash="ab" * 32, path=str(tmp_path), n_rows=42
    )
    base = Checkpoint.objects.create(name="tiny-sft", kind="sft", path=str(tmp_path))
    rm = Checkpoint.objects.create(name="tiny-rm", kind="rm", path=str(tmp_path))
    first = TrainingJob.objects.create(project=project, kind="rm", status="failed")
    job = TrainingJob.objects.create(
        project=project,
        kind="rm",
        status="succeeded",
        progress=1.0,
        snapshot=snapshot,
        base_checkpoint=base,
        output_checkpoint=rm,
        rerun_of=first,
        log_tail="step 10 loss 0.3",
    )
    pipeline = Pipeline.objects.create(project=project, labelers="simulated", rounds=1)
    PipelineStage.objects.create(pipeline=pipeline, round=1, kind="rm", job=job)
    client.force_login(admin_user)
    html = client.get(reverse("dashboard-job", args=[project.slug, job.pk])).content.decode()
    assert f"snapshot {snapshot.pk}</a> · rankings · 42 rows" in html
    assert f"sft {base.pk}</a> · tiny-sft" in html and f"rm {rm.pk}</a> · tiny-rm" in html
    assert reverse("admin:training_checkpoint_change", args=[rm.pk]) in html
    assert f"pipeline {pipeline.pk}</a> · round 1 · rm stage" in html
    assert reverse("dashboard-job", args=[project.slug, first.pk]) in html
    assert "step 10 loss 0.3" in html and "No metrics logged yet." in html
    assert "hx-trigger" not in html  # finished: nothing polls


def test_user_text_is_escaped(client, project, admin_user):
    job = TrainingJob.objects.create(
        project=project,
        kind="sft",
        status="failed",
        config={"note": "<script>alert('config')</script>"},
        log_tail="<script>alert('log')</script>",
        error="<img src=x onerror=alert(1)>",
    )
    client.force_login(admin_user)
    html = client.get(reverse("dashboard-job", args=[project.slug, job.pk])).content.decode()
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;config&#x27;)" in html
    assert "&lt;script&gt;alert(&#x27;log&#x27;)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_eta_extrapolates_a_running_jobs_progress():
    now = timezone.now()
    running = TrainingJob(
        status="running", progress=0.25, started_at=now - dt.timedelta(minutes=10)
    )
    assert eta_seconds(running, now) == pytest.approx(30 * 60)
    assert eta_seconds(TrainingJob(status="running", progress=0.01, started_at=now), now) is None
    assert eta_seconds(TrainingJob(status="queued", progress=0.5, started_at=now), now) is None
    assert eta_seconds(TrainingJob(status="running", progress=0.5), now) is None
    texts = [duration_text(s) for s in (None, 42, 30 * 60, 2 * 3600 + 5 * 60)]
    assert texts == ["–", "42 s", "30 min", "2 h 05 min"]
