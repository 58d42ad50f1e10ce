"""/api/v1/checkpoints/, /jobs/, /snapshots/: reviewers read, admins create."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from training.models import Checkpoint, DatasetSnapshot, TrainingJob

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"


def test_checkpoint_matrix(clients, world):
    checkpoint = Checkpoint.objects.create(name="base", kind="base", path="/models/base")
    assert statuses(clients, "get", "/api/v1/checkpoints/") == expect([401, 403, 403, 200, 200])
    url = f"/api/v1/checkpoints/{checkpoint.pk}/"
    assert statuses(clients, "get", url) == expect([401, 403, 403, 200, 200])
    assert statuses(clients, "post", "/api/v1/checkpoints/", {}) == expect(
        [401, 403, 403, 405, 405]
    )


def test_job_matrix(clients, world, project, artifacts, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    job = TrainingJob.objects.create(project=project, kind="sft")
    assert statuses(clients, "get", "/api/v1/jobs/") == expect([401, 403, 403, 200, 200])
    assert statuses(clients, "get", f"/api/v1/jobs/{job.pk}/") == expect([401, 403, 403, 200, 200])
    body = {"project": "campaign", "kind": "rm", "config": {}}
    assert statuses(clients, "post", "/api/v1/jobs/", body) == expect([401, 403, 403, 403, 201])
    created = TrainingJob.objects.get(kind="rm")
    assert created.status == "queued" and created.created_by.username == "ada"
    # the job trains on a frozen snapshot of the project's rankings
    assert created.snapshot.kind == "rankings" and created.snapshot.n_rows == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"project": "campaign", "kind": "dance"}, "kind"),
        ({"project": "campaign", "kind": "sft", "config": [1]}, "config"),
        ({"project": "campaign", "kind": "sft", "snapshot": 999999}, "snapshot"),
        ({"project": "campaign", "kind": "rm", "config": {"no_such_key": 1}}, "config"),
        ({"project": "campaign", "kind": "ppo"}, "reward_checkpoint"),
        ({"project": "nope", "kind": "sft"}, "project"),
        ({"project": "campaign", "kind": "rm", "config": {"lr": "fast"}}, "config"),
        ({"project": "campaign", "kind": "rm", "config": {"lr": -0.1}}, "config"),
        ({"project": "campaign", "kind": "rm", "config": {"processes": 10_000}}, "processes"),
        ({"project": "campaign", "kind": "rm", "base_checkpoint": 999999}, "base_checkpoint"),
    ],
)
def test_job_errors_name_the_field(clients, world, artifacts, body, field):
    response = clients["admin"].post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert TrainingJob.objects.count() == 0


def test_a_checkpoint_of_the_wrong_kind_or_with_no_folder_is_refused(
    clients, world, artifacts, tmp_path
):
    sft = Checkpoint.objects.create(name="sft", kind="sft", path=str(tmp_path))
    gone = Checkpoint.objects.create(name="gone", kind="rm", path=str(tmp_path / "gone"))
    admin = clients["admin"]
    body = {"project": "campaign", "kind": "ppo", "base_checkpoint": sft.pk}
    response = admin.post("/api/v1/jobs/", body | {"reward_checkpoint": sft.pk}, format="json")
    assert response.status_code == 400
    assert "is a sft checkpoint" in response.json()["reward_checkpoint"][0]
    response = admin.post("/api/v1/jobs/", body | {"reward_checkpoint": gone.pk}, format="json")
    assert response.status_code == 400 and "is missing" in response.json()["reward_checkpoint"][0]
    assert TrainingJob.objects.count() == 0


def test_cancel_and_retry(clients, world, project, artifacts, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    job = TrainingJob.objects.create(project=project, kind="sft")
    url = f"/api/v1/jobs/{job.pk}/"
    # reviewers see jobs, only the project's admins move them
    assert statuses(clients, "post", url + "cancel/") == expect([401, 403, 403, 403, 200])
    job.refresh_from_db()
    assert job.status == "cancelled"
    response = clients["admin"].post(url + "cancel/")
    assert response.status_code == 409
    assert "only queued, retrying or running" in response.json()["status"][0]
    response = clients["admin"].post(url + "retry/")
    assert response.status_code == 200 and response.json()["status"] == "retrying"
    assert response.json()["attempts"] == 0 and response.json()["resumed_from_step"] is None
    assert clients["admin"].post(url + "retry/").status_code == 409


def test_snapshot_matrix_and_download(clients, world, artifacts):
    body = {"project": "campaign", "kind": "comparisons", "options": {}}
    assert statuses(clients, "post", "/api/v1/snapshots/", body) == expect(
        [401, 403, 403, 403, 201]
    )
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.n_rows == 6
    assert statuses(clients, "get", "/api/v1/snapshots/") == expect([401, 403, 403, 200, 200])
    url = f"/api/v1/snapshots/{snapshot.pk}/download/"
    assert statuses(clients, "get", url) == expect([401, 403, 403, 200, 200])
    data = b"".join(clients["reviewer"].get(url).streaming_content)
    assert data.count(b"\n") == 6
    # freezing the same state again returns the same snapshot
    again = clients["admin"].post("/api/v1/snapshots/", body, format="json").json()
    assert again["content_hash"] == snapshot.content_hash


@pytest.mark.parametrize(
    "options, field",
    [
        ({"split": "dev"}, "split"),
        ({"min_agreement": 2}, "min_agreement"),
        ({"colour": 1}, "colour"),  # not an export option at all
        ({"status": "all"}, "status"),  # an option of demonstrations, not of comparisons
    ],
)
def test_snapshot_bad_option(clients, world, artifacts, options, field):
    body = {"project": "campaign", "kind": "comparisons", "options": options}
    response = clients["admin"].post("/api/v1/snapshots/", body, format="json")
    assert response.status_code == 400 and field in response.json()["options"], response.json()
    assert DatasetSnapshot.objects.count() == 0


def test_snapshot_shows_its_resolved_options(clients, world, artifacts):
    body = {"project": "campaign", "kind": "rankings", "options": {"min_agreement": 0.5}}
    response = clients["admin"].post("/api/v1/snapshots/", body, format="json")
    assert response.status_code == 201
    assert response.json()["options"] == {
        "split": None,
        "conversational": False,
        "consensus": False,
        "min_agreement": 0.5,
        "include_gold": False,
        "include_evaluation": False,
        "include_ai": False,
    }


def test_job_snapshot_options(clients, world, artifacts, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    body = {"project": "campaign", "kind": "rm", "snapshot_options": {"consensus": True}}
    response = clients["admin"].post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    snapshot = TrainingJob.objects.get().snapshot
    assert snapshot.kind == "rankings" and snapshot.options["consensus"] is True
    for options, field in [({"split": "dev"}, "split"), ({"style": "messages"}, "style")]:
        body = {"project": "campaign", "kind": "rm", "snapshot_options": options}
        response = clients["admin"].post("/api/v1/jobs/", body, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["snapshot_options"], response.json()
    assert TrainingJob.objects.count() == 1


def test_rerun_makes_a_job_with_the_same_record(clients, world, project, artifacts, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    body = {"project": "campaign", "kind": "rm", "config": {"lr": 1e-3}}
    original = clients["admin"].post("/api/v1/jobs/", body, format="json").json()
    assert original["demonstrations_snapshot"] is not None
    url = f"/api/v1/jobs/{original['id']}/rerun/"
    assert statuses(clients, "post", url) == expect([401, 403, 403, 403, 201])
    rerun = TrainingJob.objects.exclude(pk=original["id"]).get()
    response = clients["admin"].get(f"/api/v1/jobs/{rerun.pk}/").json()
    assert response["rerun_of"] == original["id"] and response["status"] == "queued"
    for field in ("kind", "config", "snapshot", "demonstrations_snapshot", "base_checkpoint"):
        assert response[field] == original[field], field


def test_ppo_ptx_through_the_api(clients, world, project, artifacts, settings, tmp_path):
    from training.corpora import import_file

    settings.CELERY_TASK_ALWAYS_EAGER = False
    (tmp_path / "rm").mkdir()
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path / "rm"))
    (tmp_path / "corpus.txt").write_text("A pretraining text.\n")
    corpus = import_file(project, tmp_path / "corpus.txt")
    split = world["task"].prompt.split
    body = {"project": "campaign", "kind": "ppo", "reward_checkpoint": rm.pk,
            "config": {"ptx_coef": 27.8, "split": split}}  # fmt: skip
    response = clients["admin"].post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 400
    assert "needs a pretraining corpus" in response.json()["pretrain_corpus"][0]
    response = clients["admin"].post(
        "/api/v1/jobs/", body | {"pretrain_corpus": corpus.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    job = TrainingJob.objects.get()
    assert job.pretrain_corpus == corpus and job.snapshot.kind == "prompts"
    assert response.json()["config"]["ptx_coef"] == 27.8
