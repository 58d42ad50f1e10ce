"""/dashboard/<slug>/evaluations/: staff only, the report's table and charts, a campaign
started from the form (project admins, CSRF), errors shown by field, names escaped."""

from django.urls import reverse

from evaluations.models import Campaign
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
