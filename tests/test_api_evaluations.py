"""/api/v1/evaluations/: create (admins), read and report (reviewers), labelers refused; the
report is the command's document."""

import pytest

from evaluations import report
from evaluations.models import Campaign
from training.models import Checkpoint

from .api_world import clients  # noqa: F401 - the fixture
from .evaluation_world import STRONG, WEAK, answered_prompts
from .test_evaluations import _labelers, _rank_all

URL = "/api/v1/evaluations/"
BODY = {
    "project": "campaign",
    "name": "api-run",
    "contestants": [f"model:{STRONG}", f"model:{WEAK}"],
    "overlap": 1,
}


@pytest.fixture
def answered(project):
    answered_prompts(project, 10)


def test_only_project_admins_create(clients, answered, django_capture_on_commit_callbacks):  # noqa: F811
    for role in ("anonymous", "labeler", "reviewer"):
        response = clients[role].post(URL, BODY, format="json")
        assert response.status_code in (401, 403), role
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["admin"].post(URL, BODY, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["state"]["contestants"][0]["name"] == STRONG
    campaign = Campaign.objects.get()
    assert campaign.status == "open" and campaign.created_by.username == "ada"
    detail = clients["reviewer"].get(f"{URL}{campaign.pk}/").json()
    assert detail["state"]["tasks"] == 10
    assert clients["labeler"].get(f"{URL}{campaign.pk}/").status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contestants": [f"model:{STRONG}"]}, "contestants"),
        ({"contestants": ["checkpoint:999", f"model:{WEAK}"]}, "contestants"),
        ({"contestants": ["gpt", f"model:{WEAK}"]}, "contestants"),
        ({"format": "elo"}, "format"),
        ({"split": "nowhere"}, "split"),
        ({"overlap": 0}, "overlap"),
    ],
)
def test_a_bad_campaign_is_a_400_by_field(clients, answered, change, field):  # noqa: F811
    response = clients["admin"].post(URL, BODY | change, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Campaign.objects.exists()


def test_the_report_is_the_commands_document(
    clients,  # noqa: F811
    project,
    answered,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        clients["admin"].post(URL, BODY, format="json")
    campaign = Campaign.objects.get()
    _rank_all(project, _labelers(project, 1), prefer_strong=0.9)
    response = clients["reviewer"].get(
        f"{URL}{campaign.pk}/report/", {"baseline": WEAK, "bootstrap": 200}
    )
    assert response.status_code == 200
    assert response.json() == report.build_report(campaign, WEAK, n_boot=200)
    assert response.json()["models"][STRONG]["n"] == 10
    bad = clients["reviewer"].get(f"{URL}{campaign.pk}/report/", {"baseline": "nobody"})
    assert bad.status_code == 400 and "baseline" in bad.json()
    bad = clients["reviewer"].get(f"{URL}{campaign.pk}/report/", {"bootstrap": "lots"})
    assert bad.status_code == 400 and "bootstrap" in bad.json()
    assert clients["labeler"].get(f"{URL}{campaign.pk}/report/").status_code == 403


def test_scoring_is_queued_for_admins_with_a_reward_model(
    clients,  # noqa: F811
    answered,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        clients["admin"].post(URL, BODY, format="json")
    campaign = Campaign.objects.get()
    policy = Checkpoint.objects.create(name="p", kind="sft", path="x")
    url = f"{URL}{campaign.pk}/score/"
    assert clients["reviewer"].post(url, {"judge": policy.pk}, format="json").status_code == 403
    bad = clients["admin"].post(url, {"judge": policy.pk}, format="json")
    assert bad.status_code == 400 and "judge" in bad.json()
