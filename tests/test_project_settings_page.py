"""The project settings page (``labeling.settings_views``) and its retraining schedules part
(``pipelines.schedule_views``): who may see it, what it shows, and that every write goes
through the services, a refusal shown on its field with nothing saved."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from labeling.models import Project
from pipelines import retraining
from pipelines.models import RetrainingSchedule

pytestmark = pytest.mark.django_db


def page(project):
    return reverse("dashboard-settings", args=[project.slug])


def client_of(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def values(project, **changes):
    """The form as the page sends it for ``project``'s stored settings, with ``changes``."""
    data = {
        "name": project.name,
        "k_min": project.k_min,
        "k_max": project.k_max,
        "overlap": project.overlap,
        "gold_rate": project.gold_rate,
        "lease_minutes": project.lease_minutes,
        "likert_max": project.likert_max,
        "min_seconds_per_task": project.min_seconds_per_task,
        "guidelines": project.guidelines,
        "principles": project.principles,
        "flags": "\n".join(project.flags),
        "prompt_cap_per_user": project.prompt_cap_per_user,
        "dedup_prefix_chars": project.dedup_prefix_chars,
        "agreement_threshold": project.agreement_threshold,
        "screening_threshold": project.screening_threshold,
        "screening_min_tasks": project.screening_min_tasks,
        "screening_min_demonstrations": project.screening_min_demonstrations,
    }
    for i, split in enumerate(("train", "validation", "test")):
        data[f"split_fractions_{i}"] = project.split_fractions[split]
    if project.allow_ties:
        data["allow_ties"] = "on"
    if project.requires_screening:
        data["requires_screening"] = "on"
    data.update(changes)
    return {f"project-{name}": value for name, value in data.items() if value is not None}


def errors_of(response, html_name) -> str:
    """The text of the errors shown next to the field named ``html_name``."""
    found = re.search(
        rf'<ul class="errorlist" id="errors-{re.escape(html_name)}">(.*?)</ul>',
        response.content.decode(),
        re.S,
    )
    assert found, f"no errors next to {html_name}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def stored(project) -> dict:
    return Project.objects.filter(pk=project.pk).values()[0]


# --- who may see it ------------------------------------------------------------------------


def test_anonymous_users_go_to_the_login_page(client, project):
    response = client.get(page(project))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("who", ["labeler", "reviewer"])
def test_labelers_and_reviewers_are_refused(request, project, who):
    client = client_of(request.getfixturevalue(who))
    assert client.get(page(project)).status_code == 403
    assert client.post(page(project), values(project, overlap=3)).status_code == 403
    assert Project.objects.get(pk=project.pk).overlap == 1


def test_an_admin_of_another_project_is_refused(project, project_admin):
    other = Project.objects.create(slug="other", name="Other")
    assert client_of(project_admin).get(page(other)).status_code == 403


def test_an_unknown_project_is_a_404(admin_user):
    assert client_of(admin_user).get("/dashboard/nowhere/settings/").status_code == 404


@pytest.mark.parametrize("who", ["project_admin", "admin_user"])
def test_project_admins_and_superusers_see_the_current_values(request, project, who):
    Project.objects.filter(pk=project.pk).update(overlap=3, gold_rate=0.25, flags=["toxic"])
    response = client_of(request.getfixturevalue(who)).get(page(project))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'name="project-overlap" value="3"' in text
    assert 'name="project-gold_rate" value="0.25"' in text
    assert 'name="project-split_fractions_0" id="id_project-split_fractions_0" value="0.8"' in text
    assert re.search(r'<textarea name="project-flags"[^>]*>\s*toxic</textarea>', text)
    assert re.search(r'<textarea name="project-principles"[^>]*>\s*- Be helpful', text)
    assert 'name="project-allow_ties" id="id_project-allow_ties" checked' in text
    assert f'href="{page(project)}">Settings</a>' in text  # the tab


def test_the_settings_tab_is_only_shown_to_the_projects_admins(client, project, reviewer):
    client.force_login(reviewer)
    text = client.get(reverse("dashboard-screening", args=[project.slug])).content.decode()
    assert "Settings</a>" not in text


# --- the project's settings ----------------------------------------------------------------


def test_a_valid_change_is_saved(project, project_admin):
    before = stored(project)
    response = client_of(project_admin).post(
        page(project),
        values(
            project,
            overlap=3,
            k_min=2,
            k_max=5,
            allow_ties=None,
            requires_screening="on",
            screening_threshold=0.9,
            **{"split_fractions_0": 0.7, "split_fractions_1": 0.2},
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == page(project)
    after = stored(project)
    assert after["overlap"] == 3 and (after["k_min"], after["k_max"]) == (2, 5)
    assert after["allow_ties"] is False and after["requires_screening"] is True
    assert after["screening_threshold"] == 0.9
    assert after["split_fractions"] == {"train": 0.7, "validation": 0.2, "test": 0.1}
    unchanged = set(before) - {
        "overlap", "k_min", "k_max", "allow_ties", "requires_screening",
        "screening_threshold", "split_fractions",
    }  # fmt: skip
    assert {n: after[n] for n in unchanged} == {n: before[n] for n in unchanged}
    followed = client_of(project_admin).get(page(project))
    assert 'name="project-overlap" value="3"' in followed.content.decode()


def test_the_success_message_names_what_changed(project, project_admin):
    response = client_of(project_admin).post(page(project), values(project, overlap=2), follow=True)
    assert "Settings saved: overlap." in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"k_min": 6, "k_max": 5}, "k_max", "must be at least k_min (6)"),
        ({"overlap": 0}, "overlap", "must be an integer from 1 to 100"),
        ({"gold_rate": 1.5}, "gold_rate", "must be a number from 0 to 1"),
        ({"lease_minutes": 1, "min_seconds_per_task": 60}, "min_seconds_per_task", "shorter"),
        ({"split_fractions_0": 0.9}, "split_fractions", "sum to 1"),
        ({"split_fractions_0": "lots"}, "split_fractions", "Enter a number"),
        ({"flags": "hallucination\nNot A Flag"}, "flags", "is not a flag name"),
        ({"flags": "toxic, toxic"}, "flags", "a flag is listed twice"),
        ({"overlap": "three"}, "overlap", "Enter a whole number"),
    ],
)
def test_a_refused_change_is_shown_next_to_its_field_and_nothing_is_saved(
    project, project_admin, changes, field, message
):
    before = stored(project)
    # a valid change in the same submission must not be saved either
    response = client_of(project_admin).post(page(project), values(project, name="New", **changes))
    assert response.status_code == 400
    assert message in errors_of(response, f"project-{field}")
    assert stored(project) == before


def test_split_fractions_are_fixed_once_the_project_has_prompts(project, project_admin, make_task):
    make_task()
    response = client_of(project_admin).post(
        page(project), values(project, split_fractions_0=0.7, split_fractions_1=0.2)
    )
    assert response.status_code == 400
    assert "cannot change once the project has prompts" in errors_of(
        response, "project-split_fractions"
    )
    # unchanged fractions are no change: the rest of the form still saves
    response = client_of(project_admin).post(page(project), values(project, overlap=2))
    assert response.status_code == 302


def test_flags_are_edited_one_a_line(project, project_admin):
    response = client_of(project_admin).post(
        page(project), values(project, flags="hallucination\r\n\r\n  toxic \r\noff_topic")
    )
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).flags == ["hallucination", "toxic", "off_topic"]
    client_of(project_admin).post(page(project), values(project, flags=""))
    assert Project.objects.get(pk=project.pk).flags == []


def test_guidelines_are_escaped(project, project_admin):
    script = "<script>alert('x')</script> **bold** & more"
    client = client_of(project_admin)
    assert client.post(page(project), values(project, guidelines=script)).status_code == 302
    assert Project.objects.get(pk=project.pk).guidelines == script
    text = client.get(page(project)).content.decode()
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; **bold** &amp; more" in text


def test_forms_need_the_csrf_token(project, project_admin):
    client = client_of(project_admin, enforce_csrf_checks=True)
    assert client.post(page(project), values(project, overlap=3)).status_code == 403
    assert Project.objects.get(pk=project.pk).overlap == 1
    add = reverse("dashboard-schedule-create", args=[project.slug])
    assert client.post(add, schedule_values("new-schedule")).status_code == 403
    assert not RetrainingSchedule.objects.exists()
    # with the token the page's forms carry, the same posts go through
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(page(project)).content.decode()
    ).group(1)
    data = {**values(project, overlap=3), "csrfmiddlewaretoken": token}
    assert client.post(page(project), data).status_code == 302
    data = {**schedule_values("new-schedule"), "csrfmiddlewaretoken": token}
    assert client.post(add, data).status_code == 302
    assert RetrainingSchedule.objects.count() == 1


# --- the retraining schedules --------------------------------------------------------------


def schedule_values(prefix, **changes) -> dict:
    data = {
        "kind": "retrain_on_rankings",
        "enabled": "on",
        "min_new_rankings": 50,
        "every_minutes": 10,
        "at_time": "02:00",
        "sft_checkpoint": "",
        "config": "{}",
        **changes,
    }
    return {f"{prefix}-{name}": value for name, value in data.items() if value is not None}


@pytest.fixture
def nightly(project):
    return retraining.save_schedule(RetrainingSchedule(project=project, kind="nightly_snapshot"))


def test_the_page_lists_the_projects_schedules_with_their_next_run(project, project_admin, nightly):
    other = Project.objects.create(slug="other", name="Other")
    retraining.save_schedule(RetrainingSchedule(project=other, kind="retrain_on_rankings"))
    text = client_of(project_admin).get(page(project)).content.decode()
    rows = re.findall(r'<tr data-schedule="(\d+)">(.*?)</tr>', text, re.S)
    assert [int(pk) for pk, _ in rows] == [nightly.pk]
    next_run = retraining.next_run(RetrainingSchedule.objects.get(pk=nightly.pk))
    assert f'<td data-field="next_run">{next_run:%Y-%m-%d %H:%M}</td>' in rows[0][1]
    assert "every night at 02:00" in rows[0][1]
    # its edit form shows its values; the add form offers the kind the project lacks
    assert f'name="schedule-{nightly.pk}-at_time" value="02:00"' in text
    assert '<option value="retrain_on_rankings" selected>' in text


def test_an_admin_adds_a_schedule_through_the_service(project, project_admin):
    add = reverse("dashboard-schedule-create", args=[project.slug])
    response = client_of(project_admin).post(
        add, schedule_values("new-schedule", config='{"rm": {"epochs": 2}}')
    )
    assert response.status_code == 302
    assert response["Location"] == page(project) + "#schedules"
    schedule = RetrainingSchedule.objects.get(project=project)
    assert (schedule.kind, schedule.min_new_rankings, schedule.every_minutes) == (
        "retrain_on_rankings", 50, 10,
    )  # fmt: skip
    assert schedule.config == {"rm": {"epochs": 2}}
    # save_schedule wrote its beat entry
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).interval.every == 10


def test_an_admin_edits_a_schedule(project, project_admin, nightly):
    url = reverse("dashboard-schedule-update", args=[project.slug, nightly.pk])
    prefix = f"schedule-{nightly.pk}"
    response = client_of(project_admin).post(
        url, schedule_values(prefix, kind="nightly_snapshot", at_time="03:30", enabled=None)
    )
    assert response.status_code == 302
    nightly.refresh_from_db()
    assert nightly.at_time.strftime("%H:%M") == "03:30" and nightly.enabled is False
    task = PeriodicTask.objects.get(pk=nightly.periodic_task_id)
    assert (task.crontab.hour, task.crontab.minute, task.enabled) == ("3", "30", False)


def test_an_admin_deletes_a_schedule_and_its_beat_entry(project, project_admin, nightly):
    url = reverse("dashboard-schedule-delete", args=[project.slug, nightly.pk])
    response = client_of(project_admin).post(url, follow=True)
    assert response.status_code == 200
    assert "deleted" in response.content.decode()
    assert not RetrainingSchedule.objects.exists()
    assert not PeriodicTask.objects.filter(pk=nightly.periodic_task_id).exists()


def test_a_second_schedule_of_a_kind_is_refused_on_its_kind_field(project, project_admin, nightly):
    add = reverse("dashboard-schedule-create", args=[project.slug])
    response = client_of(project_admin).post(
        add, schedule_values("new-schedule", kind="nightly_snapshot", at_time="04:00")
    )
    assert response.status_code == 400
    assert "the project has a nightly_snapshot schedule already" in errors_of(
        response, "new-schedule-kind"
    )
    assert RetrainingSchedule.objects.count() == 1
    # the page around the refused form is the whole page, with the project's form
    assert 'id="project-settings"' in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"min_new_rankings": 0}, "min_new_rankings", "must be at least 1"),
        ({"every_minutes": 5000}, "every_minutes", "expected 1 to 1440 minutes"),
        ({"config": '{"sft": {}}'}, "config", "unknown key 'sft'"),
        ({"config": "{not json"}, "config", "Enter a valid JSON"),
        ({"sft_checkpoint": "999999"}, "sft_checkpoint", "Select a valid choice"),
    ],
)
def test_a_refused_schedule_change_is_shown_next_to_its_field(
    project, project_admin, nightly, changes, field, message
):
    url = reverse("dashboard-schedule-update", args=[project.slug, nightly.pk])
    prefix = f"schedule-{nightly.pk}"
    data = schedule_values(prefix, kind="nightly_snapshot", at_time="05:00", **changes)
    response = client_of(project_admin).post(url, data)
    assert response.status_code == 400
    assert message in errors_of(response, f"{prefix}-{field}")
    nightly.refresh_from_db()
    assert nightly.at_time.strftime("%H:%M") == "02:00"


def test_schedule_forms_are_for_the_projects_admins_only(project, reviewer, nightly):
    client = client_of(reviewer)
    add = reverse("dashboard-schedule-create", args=[project.slug])
    assert client.post(add, schedule_values("new-schedule")).status_code == 403
    delete = reverse("dashboard-schedule-delete", args=[project.slug, nightly.pk])
    assert client.post(delete).status_code == 403
    assert RetrainingSchedule.objects.count() == 1


def test_a_schedule_of_another_project_is_a_404(project, project_admin):
    other = Project.objects.create(slug="other", name="Other")
    theirs = retraining.save_schedule(RetrainingSchedule(project=other, kind="nightly_snapshot"))
    delete = reverse("dashboard-schedule-delete", args=[project.slug, theirs.pk])
    assert client_of(project_admin).post(delete).status_code == 404
    assert RetrainingSchedule.objects.filter(pk=theirs.pk).exists()
