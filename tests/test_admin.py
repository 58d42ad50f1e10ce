"""Every registered model's changelist, and a change or view page, load for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from labeling.assignment.rankings import ItemInput, record_ranking
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(project, make_task, labeler, admin_user):
    from labeling.models import Demonstration

    task = make_task(k=4)
    record_ranking(task, labeler, [ItemInput(rank=r, likert=4) for r in (1, 2, 3, 4)])
    Demonstration.objects.create(prompt=task.prompt, author=labeler, text="An ideal answer.")
    snapshot = DatasetSnapshot.objects.create(
        project=project, kind="rankings", content_hash="ab" * 32, path="/tmp/x"
    )
    checkpoint = Checkpoint.objects.create(name="base", kind="base", path="/tmp/m")
    TrainingJob.objects.create(
        project=project, kind="rm", snapshot=snapshot, base_checkpoint=checkpoint
    )
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Assignment

    now = timezone.now()
    Assignment.objects.create(
        task=task, labeler=labeler, leased_at=now, expires_at=now + timedelta(minutes=5)
    )


def test_every_model_admin_loads(client, admin_user, populated):
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(changelist)
        assert response.status_code == 200, changelist
        if model_admin.search_fields:
            assert client.get(changelist, {"q": "a"}).status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            page = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert client.get(page).status_code == 200, page


def test_submitted_work_is_read_only(client, admin_user, populated):
    from labeling.models import Ranking

    client.force_login(admin_user)
    ranking = Ranking.objects.first()
    url = reverse("admin:labeling_ranking_change", args=[ranking.pk])
    response = client.post(url, {"comment": "edited"})
    assert response.status_code == 403
    ranking.refresh_from_db()
    assert ranking.comment == ""
    delete = reverse("admin:labeling_ranking_delete", args=[ranking.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Ranking.objects.filter(pk=ranking.pk).exists()


def test_labeler_cannot_open_admin(client, labeler):
    client.force_login(labeler)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_jobs_are_moved_by_actions_never_edited(client, admin_user, populated, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client.force_login(admin_user)
    job = TrainingJob.objects.get()
    change = reverse("admin:training_trainingjob_change", args=[job.pk])
    assert client.post(change, {"status": "succeeded"}).status_code == 403
    assert client.get(reverse("admin:training_trainingjob_add")).status_code == 403
    changelist = reverse("admin:training_trainingjob_changelist")
    client.post(changelist, {"action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "cancelled"
    client.post(changelist, {"action": "retry_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "retrying"
    page = client.get(change).content.decode()
    assert "Attempts" in page and "retrying" in page.lower()


def test_texts_and_derived_keys_cannot_be_edited(client, admin_user, populated):
    """A prompt's or response's text is what labelers ranked, and its dedup key or hash
    derives from it: read-only here, so they cannot go stale."""
    from labeling.models import Prompt, Response

    client.force_login(admin_user)
    prompt = Prompt.objects.first()
    url = reverse("admin:labeling_prompt_change", args=[prompt.pk])
    response = client.post(
        url, {"text": "edited", "dedup_key": "x", "split": "test", "category": "chat",
              "external_id": "", "metadata": "{}"},
    )  # fmt: skip
    assert response.status_code == 302
    prompt_after = Prompt.objects.get(pk=prompt.pk)
    assert (prompt_after.text, prompt_after.dedup_key, prompt_after.split) == (
        prompt.text, prompt.dedup_key, prompt.split,
    )  # fmt: skip
    assert prompt_after.category == "chat"  # what may be edited is
    answer = Response.objects.first()
    url = reverse("admin:labeling_response_change", args=[answer.pk])
    client.post(url, {"text": "edited", "model_name": "m", "metadata": "{}"})
    answer_after = Response.objects.get(pk=answer.pk)
    assert (answer_after.text, answer_after.text_hash) == (answer.text, answer.text_hash)
    assert client.get(reverse("admin:labeling_prompt_add")).status_code == 403


def test_a_demonstration_is_reviewed_by_the_review_service_only(
    client, admin_user, populated, labeler
):
    from labeling.models import Demonstration

    client.force_login(admin_user)
    demo = Demonstration.objects.get()
    change = reverse("admin:labeling_demonstration_change", args=[demo.pk])
    assert client.post(change, {"status": "rejected"}).status_code == 403
    own = Demonstration.objects.create(prompt=demo.prompt, author=admin_user, text="Mine.")
    changelist = reverse("admin:labeling_demonstration_changelist")
    client.post(changelist, {"action": "accept", "_selected_action": [demo.pk, own.pk]})
    demo.refresh_from_db()
    own.refresh_from_db()
    assert demo.status == "accepted" and demo.reviewed_by == admin_user
    assert own.status == "pending"  # nobody reviews their own demonstration
