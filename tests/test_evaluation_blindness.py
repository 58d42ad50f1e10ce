"""Evaluation tasks are blind: nothing a labeler can open names the model behind an answer —
the ranking page, every API endpoint a labeler may call, and the exports (which a labeler
may not call at all)."""

import json

import pytest
from django.urls import reverse

from evaluations import campaigns
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.models import RankingTask

from .api_world import clients  # noqa: F401 - the fixture
from .evaluation_world import STRONG, WEAK, answered_prompts


@pytest.fixture
def blind_world(project, labeler, django_capture_on_commit_callbacks):
    project.gold_rate = 0
    project.save()
    answered_prompts(project, 3)
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.create_campaign(
            project, "blind", [{"name": STRONG}, {"name": WEAK}], overlap=2
        )
    # the labeler ranked one task and holds the next
    lease = engine.next_assignment(project, labeler)
    engine.submit_ranking(
        lease, labeler, [ItemInput(rank=1, likert=5), ItemInput(rank=2, likert=2)]
    )
    held = engine.next_assignment(project, labeler)
    return {"campaign": campaign, "done": lease.task_id, "held": held}


def _assert_blind(body: str, where: str):
    for name in (STRONG, WEAK):
        assert name not in body, f"{where} names {name}"


def test_the_ranking_page_does_not_name_the_models(client, labeler, blind_world, project):
    client.force_login(labeler)
    page = client.get(reverse("rank-task", args=[project.slug, blind_world["held"].id]))
    assert page.status_code == 200
    body = page.content.decode()
    task = RankingTask.objects.get(pk=blind_world["held"].task_id)
    # the answers are shown (their text, escaped as every text is), but not who wrote them
    assert all(r.text in body for r in task.ordered_responses())
    _assert_blind(body, "the ranking page")
    _assert_blind(client.get(reverse("home")).content.decode(), "the home page")


def test_no_api_endpoint_a_labeler_calls_names_the_models(clients, blind_world):  # noqa: F811
    api = clients["labeler"]
    held = blind_world["held"].task_id
    seen = 0
    for url in (
        "/api/v1/projects/",
        "/api/v1/prompts/",
        "/api/v1/tasks/",
        f"/api/v1/tasks/{held}/",
        f"/api/v1/tasks/{blind_world['done']}/",
        "/api/v1/rankings/",
        "/api/v1/demonstrations/",
        "/api/v1/responses/",
        "/api/v1/checkpoints/",
        "/api/v1/jobs/",
    ):
        response = api.get(url)
        assert response.status_code in (200, 403, 404), url
        if response.status_code == 200:
            seen += 1
            _assert_blind(json.dumps(response.json()), url)
    next_task = api.post("/api/v1/tasks/next/", {"project": "campaign"}, format="json")
    assert next_task.status_code == 200
    _assert_blind(json.dumps(next_task.json()), "tasks/next")
    assert seen >= 6


@pytest.mark.parametrize("kind", ["rankings", "comparisons", "demonstrations", "prompts"])
def test_a_labeler_cannot_export(clients, blind_world, kind):  # noqa: F811
    response = clients["labeler"].get(f"/api/v1/exports/{kind}/", {"project": "campaign"})
    assert response.status_code == 403
    _assert_blind(response.content.decode(), f"the {kind} export")
