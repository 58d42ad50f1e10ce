"""/dashboard/<slug>/evaluations/: staff only, the report's table and charts, a campaign
started from the form (project admins, CSRF), errors shown by field, names escaped."""

from django.urls import reverse

from evaluations.models import Campaign, Entry
from labeling import roles

from .evaluation_world import STRONG, WEAK, answered_prompts
from .test_evaluations import _campaign, _labelers, _rank_all


def _page(project):
    return reverse("dashboard-evaluations", args=[project.slug])


def test_staff_only(client, project, labeler):
    assert client.get(_page(project)).status_code == 302
    client.force_login(labeler)
    assert client.get(_page(project)).status_code == 302


def test_the_report_as_a_table_and_charts(
    client, project, reviewer, django_capture_on_commit_callbacks
):
    answered_prompts(project, 12)
    campaign = _campaign(project, django_capture_on_commit_callbacks)
    _rank_all(project, _labelers(project, 1), prefer_strong=0.75)
    client.force_login(reviewer)
    html = client.get(_page(project), {"campaign": campaign.pk, "baseline": WEAK}).content.decode()
    assert f'data-campaign="{campaign.pk}"' in html
    assert f'data-model="{STRONG}"' in html
    for div in ("chart-win-rate", "chart-bt", "chart-flags"):
        assert f'id="{div}"' in html
    assert reverse("dashboard-plotly-js") in html
    assert "New campaign" not in html  # reviewers read; admins start campaigns


def test_an_admin_starts_a_campaign_from_the_form(client, project, admin_user):
    answered_prompts(project, 4)
    roles.grant(admin_user, project, "admin")
    client.force_login(admin_user)
    page = client.get(_page(project)).content.decode()
    assert "New campaign" in page and "csrfmiddlewaretoken" in page
    assert f"model:{STRONG}" in page
    create = reverse("dashboard-evaluations-create", args=[project.slug])
    form = {
        "name": "from-the-form",
        "contestants": [f"model:{STRONG}", f"model:{WEAK}"],
        "split": "test",
        "format": "pairwise",
        "overlap": "2",
        "max_new_tokens": "32",
    }
    response = client.post(create, form)
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="from-the-form")
    assert response.url.endswith(f"?campaign={campaign.pk}")
    assert campaign.overlap == 2 and campaign.created_by == admin_user
    # a refusal of the service is shown on its field, and nothing is written
    again = client.post(create, form | {"name": "second", "contestants": [f"model:{STRONG}"]})
    assert again.status_code == 400
    assert "from 2 to 9 contestants" in again.content.decode()
    assert not Campaign.objects.filter(name="second").exists()


def test_a_reviewer_cannot_post_the_form(client, project, reviewer):
    answered_prompts(project, 2)
    client.force_login(reviewer)
    create = reverse("dashboard-evaluations-create", args=[project.slug])
    response = client.post(create, {"name": "x", "contestants": [f"model:{STRONG}"]})
    assert response.status_code == 403


def test_the_form_needs_its_csrf_token(project, admin_user):
    from django.test import Client

    answered_prompts(project, 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    create = reverse("dashboard-evaluations-create", args=[project.slug])
    assert client.post(create, {"name": "x"}).status_code == 403


def test_names_are_escaped(client, project, admin_user, django_capture_on_commit_callbacks):
    answered_prompts(project, 2, models=("<script>alert(1)</script>", WEAK))
    with django_capture_on_commit_callbacks(execute=True):
        from evaluations import campaigns

        campaigns.create_campaign(
            project, "<b>x</b>", [{"name": "<script>alert(1)</script>"}, {"name": WEAK}]
        )
    client.force_login(admin_user)
    html = client.get(_page(project)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_an_admin_has_a_reward_model_score_the_answers(
    client,
    project,
    admin_user,
    reviewer,
    django_capture_on_commit_callbacks,
    tmp_path,
    tiny_path,
    settings,
):
    from training.engine.tiny import untrained_reward_model

    settings.CELERY_TASK_ALWAYS_EAGER = True  # Celery runs the task here, without a broker
    from training.models import Checkpoint, TrainingJob

    answered_prompts(project, 3)
    campaign = _campaign(project, django_capture_on_commit_callbacks)
    folder = untrained_reward_model(tiny_path, tmp_path / "rm")
    judge = Checkpoint.objects.create(name="rm", kind="rm", path=str(folder))
    TrainingJob.objects.create(project=project, kind="rm", output_checkpoint=judge)
    url = reverse("dashboard-evaluations-score", args=[project.slug, campaign.pk])
    client.force_login(reviewer)
    assert client.post(url, {"judge": judge.pk}).status_code == 403
    roles.grant(admin_user, project, "admin")
    client.force_login(admin_user)
    assert 'id="score-form"' in client.get(_page(project)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"judge": judge.pk})
    assert response.status_code == 302 and response.url.endswith(f"judge=rm:{judge.pk}")
    page = client.get(response.url).content.decode()
    assert f"Judge rm:{judge.pk}" in page and "agreement with the humans" in page
    assert all(
        str(judge.pk) in e.scores for e in Entry.objects.filter(contestant__campaign=campaign)
    )
    assert client.post(url, {"judge": 999}).status_code == 302  # refused with a message
