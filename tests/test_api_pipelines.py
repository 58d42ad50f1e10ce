"""/api/v1/pipelines/ and /api/v1/retraining-schedules/: reviewers read, project admins
start, cancel and resume pipelines and write schedules (through pipelines.service and
pipelines.retraining)."""

# ruff: noqa: F811 -- pytest fixtures from other test modules are imported, then requested by name

import pytest
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from pipelines.models import Pipeline, RetrainingSchedule
from training.models import Checkpoint, TrainingJob

from .api_world import clients, expect, fast_passwords, statuses  # noqa: F401
from .test_pipelines import base, campaign, finish, stage_of  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/pipelines/"
SCHEDULES = "/api/v1/retraining-schedules/"


@pytest.fixture
def queued_only(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # jobs are queued; no worker runs them


@pytest.fixture
def project_admin(project):
    """pam: an admin of the campaign project, not a superuser."""
    from django.contrib.auth import get_user_model

    from labeling import roles

    user = get_user_model().objects.create_user(username="pam", password="pw-pam")
    roles.grant(user, project, "admin")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def body(checkpoint, **extra):
    return {"project": "campaign", "labelers": "simulated", "rounds": 1, "base": checkpoint.pk} | (
        extra
    )


def test_start_a_pipeline_and_read_it(clients, campaign, base, queued_only):
    assert statuses(clients, "post", URL, body(base)) == expect([401, 403, 403, 403, 201])
    pipeline = Pipeline.objects.get()
    assert pipeline.created_by.username == "ada" and pipeline.status == "running"
    sft = stage_of(pipeline, "sft", 0)
    assert sft.job.status == "queued"  # the first stage is started at once
    assert statuses(clients, "get", URL) == expect([401, 403, 403, 200, 200])
    assert statuses(clients, "get", f"{URL}{pipeline.pk}/") == expect([401, 403, 403, 200, 200])
    shown = clients["reviewer"].get(f"{URL}{pipeline.pk}/").json()
    assert {"id", "project", "status", "labelers", "mode", "rounds", "created_at", "error"} <= set(
        shown
    )
    assert (shown["id"], shown["pipeline"], shown["project"]) == (
        pipeline.pk,
        pipeline.pk,
        "campaign",
    )
    assert (shown["status"], shown["labelers"], shown["mode"], shown["rounds"]) == (
        "running", "simulated", "loop", 1
    )  # fmt: skip
    assert shown["stages"] == [
        {"round": 0, "kind": "sft", "job": sft.job_id, "status": "running", "checkpoint": None,
         "parent": base.pk, "reward_model": None, "metrics": {},
         "note": f"job {sft.job_id} queued, 0%"}
    ]  # fmt: skip
    listed = clients["reviewer"].get(URL, {"project": "campaign", "status": "running"}).json()
    assert [p["id"] for p in listed["results"]] == [pipeline.pk]

    # a second one while it runs: 400 naming the field
    response = clients["admin"].post(URL, body(base), format="json")
    assert response.status_code == 400
    assert "is running; one pipeline runs at a time" in response.json()["project"][0]
    assert Pipeline.objects.count() == 1


def test_a_project_admin_may_name_the_project_by_id(project_admin, campaign, base, queued_only):
    response = project_admin.post(URL, body(base, project=campaign.pk), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["project"] == "campaign" and response.json()["created_by"] == "pam"


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"labelers": "ai:claude"}, "labelers"),
        ({"labelers": "robots"}, "labelers"),
        ({"rounds": 0}, "rounds"),
        ({"rounds": 99}, "rounds"),
        ({"config": {"sfft": {}}}, "config"),
        ({"config": [1]}, "config"),
        ({"base": 999999}, "base"),
        ({"project": "nope"}, "project"),
        ({"project": 999999}, "project"),
    ],
)
def test_refusals_name_the_field(clients, campaign, base, queued_only, extra, field):
    response = clients["admin"].post(URL, body(base, **extra), format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Pipeline.objects.exists()


def test_a_base_of_the_wrong_kind_is_refused(clients, campaign, base, tmp_path, queued_only):
    (tmp_path / "rm").mkdir()
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path / "rm"))
    response = clients["admin"].post(URL, body(base, base=rm.pk), format="json")
    assert response.status_code == 400 and "is a rm checkpoint" in response.json()["base"][0]


def test_cancel_then_a_new_one_starts(clients, campaign, base, queued_only):
    pipeline = clients["admin"].post(URL, body(base), format="json").json()
    url = f"{URL}{pipeline['id']}/cancel/"
    assert statuses(clients, "post", url) == expect([401, 403, 403, 403, 200])
    shown = clients["reviewer"].get(f"{URL}{pipeline['id']}/").json()
    assert shown["status"] == "cancelled" and shown["error"] == "cancelled by ada"
    (stage,) = shown["stages"]
    assert stage["status"] == "failed" and stage["note"].endswith("cancelled: cancelled by ada")
    assert TrainingJob.objects.get(pk=stage["job"]).status == "cancelled"
    again = clients["admin"].post(url)
    assert again.status_code == 400 and "only a running one" in again.json()["status"][0]
    # the lock is free
    response = clients["admin"].post(URL, body(base), format="json")
    assert response.status_code == 201 and response.json()["status"] == "running"


def test_resume_a_failed_pipeline(clients, campaign, base, tmp_path, queued_only):
    from pipelines import service

    created = clients["admin"].post(URL, body(base), format="json").json()
    pipeline = Pipeline.objects.get(pk=created["id"])
    sft = stage_of(pipeline, "sft", 0)
    finish(sft, tmp_path, ok=False)
    assert service.advance(pipeline).status == "failed"
    url = f"{URL}{pipeline.pk}/resume/"
    assert statuses(clients, "post", url) == expect([401, 403, 403, 403, 200])
    shown = clients["admin"].get(f"{URL}{pipeline.pk}/").json()
    assert shown["status"] == "running" and shown["error"] == ""
    assert shown["stages"][0]["status"] == "running"
    assert TrainingJob.objects.get(pk=sft.job_id).status == "retrying"  # the same job again
    again = clients["admin"].post(url)
    assert again.status_code == 400 and "only a failed one resumes" in again.json()["status"][0]


def test_an_evaluate_job_through_the_jobs_api(clients, campaign, tmp_path, queued_only):
    folders = {}
    for kind in ("sft", "policy", "rm"):
        (tmp_path / kind).mkdir()
        folders[kind] = str(tmp_path / kind)
    sft = Checkpoint.objects.create(name="sft", kind="sft", path=folders["sft"])
    policy = Checkpoint.objects.create(
        name="policy", kind="policy", path=folders["policy"], parent=sft
    )
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=folders["rm"])
    job = {"project": "campaign", "kind": "evaluate", "base_checkpoint": policy.pk,
           "reward_checkpoint": rm.pk, "config": {"split": "validation"}}  # fmt: skip
    response = clients["admin"].post("/api/v1/jobs/", job, format="json")
    assert response.status_code == 201, response.json()
    created = TrainingJob.objects.get()
    assert created.kind == "evaluate" and created.config["parent_model"] == sft.path


# --- retraining schedules ----------------------------------------------------------------


def test_schedules_crud_keeps_the_periodic_task_in_step(clients, project, project_admin):
    schedule = {"project": "campaign", "kind": "retrain_on_rankings", "min_new_rankings": 20,
                "every_minutes": 10, "config": {"rm": {"lr": 0.001}}}  # fmt: skip
    assert statuses(clients, "post", SCHEDULES, schedule) == expect([401, 403, 403, 403, 201])
    created = RetrainingSchedule.objects.get()
    task = PeriodicTask.objects.get()
    assert created.periodic_task == task and task.task == "pipelines.run_schedule"
    assert task.enabled and task.interval.every == 10 and created.config == {"rm": {"lr": 0.001}}

    url = f"{SCHEDULES}{created.pk}/"
    assert statuses(clients, "get", SCHEDULES) == expect([401, 403, 403, 200, 200])
    shown = clients["reviewer"].get(url).json()
    assert shown["periodic_task"] == task.pk and shown["next_run_at"] is not None
    assert shown["min_new_rankings"] == 20 and shown["last_outcome"] == ""

    # a project admin changes it; reviewers may not
    change = {"every_minutes": 30, "enabled": False}
    assert clients["reviewer"].patch(url, change, format="json").status_code == 403
    response = project_admin.patch(url, change, format="json")
    assert response.status_code == 200 and response.json()["next_run_at"] is None
    task.refresh_from_db()
    assert task.interval.every == 30 and not task.enabled
    full = schedule | {"every_minutes": 7, "enabled": True}
    assert project_admin.put(url, full, format="json").status_code == 200
    task.refresh_from_db()
    assert task.interval.every == 7 and task.enabled

    # refusals name the field; nothing is written
    for bad, field in [
        ({"every_minutes": 0}, "every_minutes"),
        ({"config": {"sfft": {}}}, "config"),
        ({"config": [1]}, "config"),
        ({"kind": "hourly"}, "kind"),
    ]:
        response = project_admin.patch(url, bad, format="json")
        assert response.status_code == 400 and field in response.json(), response.json()
    duplicate = project_admin.post(SCHEDULES, schedule, format="json")
    assert duplicate.status_code == 400 and "already" in duplicate.json()["kind"][0]
    assert PeriodicTask.objects.get().interval.every == 7

    # a nightly snapshot gets a crontab
    nightly = {"project": "campaign", "kind": "nightly_snapshot", "at_time": "03:15"}
    response = project_admin.post(SCHEDULES, nightly, format="json")
    assert response.status_code == 201, response.json()
    crontab = PeriodicTask.objects.get(crontab__isnull=False).crontab
    assert (crontab.hour, crontab.minute) == ("3", "15")

    # deleting a schedule deletes its beat task
    assert statuses(clients, "delete", url) == expect([401, 403, 403, 403, 204])
    assert not RetrainingSchedule.objects.filter(pk=created.pk).exists()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert PeriodicTask.objects.count() == 1
