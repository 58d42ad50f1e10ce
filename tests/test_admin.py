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


# --- projects and memberships: through labeling.projects and labeling.roles ---------------

PROJECT_FORM = {
    "slug": "fresh", "name": "Fresh", "guidelines": "", "k_min": "4", "k_max": "9",
    "overlap": "1", "allow_ties": "on", "gold_rate": "0.05", "lease_minutes": "30",
    "likert_max": "7", "flags": '["hallucination"]',
    "split_fractions": '{"train": 0.8, "validation": 0.1, "test": 0.1}',
    "prompt_cap_per_user": "200", "dedup_prefix_chars": "200", "min_seconds_per_task": "0",
    "agreement_threshold": "0.6", "screening_threshold": "0.7", "screening_min_tasks": "5",
    "screening_min_demonstrations": "0",
    "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    # the page's second inline (pipelines' retraining schedules), empty as a browser posts it
    "retraining_schedules-TOTAL_FORMS": "0", "retraining_schedules-INITIAL_FORMS": "0",
}  # fmt: skip


def _project_form(project, **changes):
    """The change form's data for ``project`` as stored, with ``changes``."""
    import json

    from django.forms.models import model_to_dict

    from labeling.models import Membership

    data = {**PROJECT_FORM}
    for name, value in model_to_dict(project).items():
        if name in data:
            data[name] = json.dumps(value) if name in ("flags", "split_fractions") else value
    data["allow_ties"] = "on" if project.allow_ties else ""
    rows = list(Membership.objects.filter(project=project).order_by("pk"))
    data["memberships-TOTAL_FORMS"] = data["memberships-INITIAL_FORMS"] = str(len(rows))
    for i, row in enumerate(rows):
        data |= {
            f"memberships-{i}-id": row.pk, f"memberships-{i}-project": project.pk,
            f"memberships-{i}-user": row.user_id, f"memberships-{i}-role": row.role,
        }  # fmt: skip
    return {k: v for k, v in data.items() if v != ""} | changes


def _form_errors(response):
    return response.context["adminform"].form.errors


@pytest.mark.parametrize(
    "change, field",
    [
        ({"k_min": "6", "k_max": "4"}, "k_max"),
        ({"overlap": "101"}, "overlap"),
        ({"flags": '["Not a name"]'}, "flags"),
        ({"split_fractions": '{"train": 2}'}, "split_fractions"),
        ({"min_seconds_per_task": "1800"}, "min_seconds_per_task"),
        ({"prompt_cap_per_user": "0"}, "prompt_cap_per_user"),
    ],
)
def test_project_admin_refuses_what_the_service_refuses(client, admin_user, change, field):
    from labeling.models import Project

    client.force_login(admin_user)
    response = client.post(reverse("admin:labeling_project_add"), PROJECT_FORM | change)
    assert response.status_code == 200 and field in _form_errors(response)
    assert not Project.objects.filter(slug="fresh").exists()


def test_project_admin_creates_through_the_service_with_its_memberships(
    client, admin_user, labeler
):
    from labeling import roles
    from labeling.models import Project

    client.force_login(admin_user)
    rows = {
        "memberships-TOTAL_FORMS": "1", "memberships-0-user": labeler.pk,
        "memberships-0-role": "reviewer",
    }  # fmt: skip
    data = PROJECT_FORM | rows | {"name": "  Fresh  ", "split_fractions": '{"train": 1}'}
    response = client.post(reverse("admin:labeling_project_add"), data)
    assert response.status_code == 302, _form_errors(response)
    fresh = Project.objects.get(slug="fresh")
    assert fresh.name == "Fresh"
    assert fresh.split_fractions == {"train": 1.0, "validation": 0.0, "test": 0.0}
    assert roles.role_in(labeler, fresh) == "reviewer"
    assert set(labeler.groups.values_list("name", flat=True)) == {"labeler", "reviewer"}


def test_project_admin_changes_through_the_service(client, admin_user, populated, project):
    from labeling.models import Project

    client.force_login(admin_user)
    url = reverse("admin:labeling_project_change", args=[project.pk])
    # the project has prompts: its splits are fixed (the rule compares with the stored row)
    response = client.post(url, _project_form(project, split_fractions='{"train": 1}'))
    assert response.status_code == 200 and "split_fractions" in _form_errors(response)
    assert Project.objects.get(pk=project.pk).split_fractions == project.split_fractions
    response = client.post(url, _project_form(project, gold_rate="0.5", name=" Renamed "))
    assert response.status_code == 302, _form_errors(response)
    changed = Project.objects.get(pk=project.pk)
    assert (changed.gold_rate, changed.name) == (0.5, "Renamed")


def test_membership_inline_grants_and_revokes_with_the_role_groups(
    client, admin_user, project, labeler, reviewer
):
    from labeling.models import Membership

    client.force_login(admin_user)
    url = reverse("admin:labeling_project_change", args=[project.pk])
    data = _project_form(project)
    rows = {row.user_id: i for i, row in enumerate(Membership.objects.order_by("pk"))}
    data[f"memberships-{rows[labeler.pk]}-role"] = "admin"
    data[f"memberships-{rows[reviewer.pk]}-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and _form_errors(response)
    assert dict(Membership.objects.values_list("user__username", "role")) == {"lena": "admin"}
    assert list(labeler.groups.values_list("name", flat=True)) == ["admin"]
    assert not reviewer.groups.exists()  # no role left anywhere: no role group


def test_membership_admin_goes_through_roles(client, admin_user, project, labeler):
    from labeling.models import Membership

    client.force_login(admin_user)
    membership = Membership.objects.get(user=labeler)
    change = reverse("admin:labeling_membership_change", args=[membership.pk])
    assert client.post(change, {"role": "reviewer"}).status_code == 302
    assert list(labeler.groups.values_list("name", flat=True)) == ["reviewer"]
    delete = reverse("admin:labeling_membership_delete", args=[membership.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(user=labeler).exists()
    assert not labeler.groups.exists()
    add = reverse("admin:labeling_membership_add")
    response = client.post(add, {"user": labeler.pk, "project": project.pk, "role": "labeler"})
    assert response.status_code == 302
    assert list(labeler.groups.values_list("name", flat=True)) == ["labeler"]


def test_project_admins_change_only_their_projects(client, project, labeler):
    """As in the API: only superusers create projects, and a project's admins change it."""
    from django.contrib.auth import get_user_model

    from labeling import roles
    from labeling.models import Membership, Project

    other = Project.objects.create(slug="other", name="Other")
    boss = get_user_model().objects.create_user("boss", password="pw", is_staff=True)
    roles.grant(boss, project, "admin")
    roles.grant(labeler, other, "reviewer")
    client.force_login(boss)
    listed = client.get(reverse("admin:labeling_project_changelist")).context["cl"].result_list
    assert [p.slug for p in listed] == ["campaign"]
    assert client.get(reverse("admin:labeling_project_add")).status_code == 403
    mine = reverse("admin:labeling_project_change", args=[project.pk])
    assert client.post(mine, _project_form(project, gold_rate="0.2")).status_code == 302
    theirs = reverse("admin:labeling_project_change", args=[other.pk])
    # outside the admin's queryset: "does not exist", back to the index
    assert client.post(theirs, _project_form(other, gold_rate="0.2")).status_code == 302
    assert Project.objects.get(pk=other.pk).gold_rate == 0.05
    memberships = client.get(reverse("admin:labeling_membership_changelist")).context["cl"]
    assert {m.project.slug for m in memberships.result_list} == {"campaign"}
    theirs_row = Membership.objects.get(project=other)
    page = reverse("admin:labeling_membership_change", args=[theirs_row.pk])
    assert client.post(page, {"role": "admin"}).status_code == 302
    assert Membership.objects.get(pk=theirs_row.pk).role == "reviewer"
    add = reverse("admin:labeling_membership_add")
    response = client.post(add, {"user": boss.pk, "project": other.pk, "role": "admin"})
    assert response.status_code == 200 and "project" in _form_errors(response)
    assert not Membership.objects.filter(user=boss, project=other).exists()


def test_gold_references_are_set_through_the_task_service(client, admin_user, populated):
    from labeling.models import RankingTask

    client.force_login(admin_user)
    task = RankingTask.objects.get()
    url = reverse("admin:labeling_rankingtask_change", args=[task.pk])
    inline = {
        "task_responses-TOTAL_FORMS": "4", "task_responses-INITIAL_FORMS": "4",
        "task_responses-MIN_NUM_FORMS": "0", "task_responses-MAX_NUM_FORMS": "1000",
        **{f"task_responses-{i}-id": tr.pk for i, tr in enumerate(task.task_responses.all())},
        **{f"task_responses-{i}-task": task.pk for i in range(4)},
    }  # fmt: skip
    for bad in ("[1, 1, 1, 1]", "[1, 2, 3]", "null"):
        response = client.post(url, inline | {"is_gold": "on", "gold_ranks": bad})
        assert response.status_code == 200 and "gold_ranks" in _form_errors(response), bad
    task.refresh_from_db()
    assert not task.is_gold and task.gold_ranks is None
    response = client.post(url, inline | {"is_gold": "on", "gold_ranks": "[2, 1, 3, 4]", "k": 9})
    assert response.status_code == 302, _form_errors(response)
    task.refresh_from_db()
    assert (task.is_gold, task.gold_ranks, task.k) == (True, [2, 1, 3, 4], 4)
    assert client.get(reverse("admin:labeling_rankingtask_add")).status_code == 403


def test_prompt_metadata_is_checked_by_the_prompt_service(client, admin_user, populated):
    from labeling.models import Prompt

    client.force_login(admin_user)
    prompt = Prompt.objects.first()
    url = reverse("admin:labeling_prompt_change", args=[prompt.pk])
    data = {"category": "chat", "external_id": "", "metadata": "[1]"}
    response = client.post(url, data)
    assert response.status_code == 200 and "metadata" in _form_errors(response)
    assert Prompt.objects.get(pk=prompt.pk).category == prompt.category
    assert client.post(url, data | {"metadata": '{"a": 1}'}).status_code == 302
    assert Prompt.objects.get(pk=prompt.pk).metadata == {"a": 1}


def test_response_metadata_is_checked_by_the_response_service(client, admin_user, populated):
    from labeling.models import Response

    client.force_login(admin_user)
    response_row = Response.objects.first()
    url = reverse("admin:labeling_response_change", args=[response_row.pk])
    data = {"model_name": "m", "metadata": "[1]"}
    answer = client.post(url, data)
    assert answer.status_code == 200 and "metadata" in _form_errors(answer)
    assert Response.objects.get(pk=response_row.pk).metadata == response_row.metadata
    assert client.post(url, data | {"metadata": '{"a": 1}'}).status_code == 302
    saved = Response.objects.get(pk=response_row.pk)
    assert (saved.model_name, saved.metadata, saved.text) == ("m", {"a": 1}, response_row.text)
