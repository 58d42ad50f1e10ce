"""project_agreement and ``manage.py agreement`` on a small hand-computed campaign."""

import datetime as dt
import json
from io import StringIO

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.models import Assignment, Ranking
from labeling.quality.agreement import project_agreement

KEYS = {
    "pairwise_agreement",
    "pairwise_agreement_ci",
    "tie_rate",
    "kendall_tau_b",
    "krippendorff_alpha_ordinal",
    "likert_alpha_interval",
    "flags",
    "labelers",
    "n_tasks_with_overlap",
}


def rank(task, user, ranks, *, likert=None, flags=None, seconds=0.0):
    likert = likert or [None] * len(ranks)
    flags = flags or [[] for _ in ranks]
    items = [ItemInput(r, lk, f) for r, lk, f in zip(ranks, likert, flags, strict=True)]
    return record_ranking(task, user, items, seconds_spent=seconds)


@pytest.fixture
def campaign(project, make_task, labeler, other_labeler):
    """lena and omar both rank task 1; lena alone ranks task 2 and the gold task 3; omar
    skipped task 2."""
    project.flags = ["hallucination"]
    project.save()
    shared = make_task(k=4)
    shared.prompt.category = "chat"
    shared.prompt.save()
    # lena 1 2 3 4 vs omar 1 3 2 4: 5 of 6 pairs agree. Likert units {7,7} {1,3}: alpha 8/9
    # with the other two units ({4,4}, {4,4}) adding agreement. Flag on response 1: {1, 1}.
    rank(
        shared,
        labeler,
        [1, 2, 3, 4],
        likert=[7, 1, 4, 4],
        flags=[["hallucination"], [], [], []],
        seconds=10,
    )
    rank(
        shared,
        other_labeler,
        [1, 3, 2, 4],
        likert=[7, 3, 4, 4],
        flags=[["hallucination"], [], [], []],
        seconds=30,
    )
    alone = make_task(k=5)
    rank(alone, labeler, [5, 4, 3, 2, 1], seconds=20)
    now = timezone.now()
    Assignment.objects.create(
        task=alone,
        labeler=other_labeler,
        status="skipped",
        skip_reason="unsure",
        leased_at=now,
        expires_at=now + dt.timedelta(minutes=5),
        finished_at=now,
    )
    gold = make_task(k=4, is_gold=True, gold_ranks=[2, 1, 3, 4])
    rank(gold, labeler, [1, 2, 3, 4], seconds=40)
    return shared


def test_document(project, campaign):
    doc = project_agreement(project)
    assert set(doc) == KEYS
    assert doc["n_tasks_with_overlap"] == 1
    assert doc["pairwise_agreement"] == pytest.approx(5 / 6)
    # One task: every bootstrap resample is that task.
    assert doc["pairwise_agreement_ci"] == [pytest.approx(5 / 6), pytest.approx(5 / 6)]
    assert doc["tie_rate"] == 0
    assert doc["kendall_tau_b"] == pytest.approx(4 / 6)
    ranks = np.array([[1, 2, 3, 4], [1, 3, 2, 4]], dtype=float)
    assert doc["krippendorff_alpha_ordinal"] == pytest.approx(
        krippendorff.alpha(reliability_data=ranks, level_of_measurement="ordinal")
    )
    likert = np.array([[7, 1, 4, 4], [7, 3, 4, 4]], dtype=float)
    assert doc["likert_alpha_interval"] == pytest.approx(
        krippendorff.alpha(reliability_data=likert, level_of_measurement="interval")
    )
    # 2 of 4 + 5 + 4 = 17 items carry the flag; both labelers flag response 1 and nothing
    # else on the shared task, so the nominal alpha is 1.
    assert doc["flags"]["hallucination"] == {"alpha": 1.0, "rate": pytest.approx(2 / 17)}
    lena, omar = doc["labelers"]
    assert lena == {
        "username": "lena",
        "is_ai": False,  # an AI labeler's row says so (tests/test_ai_label_command.py)
        "agreement": pytest.approx(5 / 6),
        "gold_agreement": pytest.approx(5 / 6),  # 1 2 3 4 vs gold 2 1 3 4
        "n_rankings": 3,
        "median_seconds": 20.0,  # 10, 20, 40
        "skip_rate": 0.0,
    }
    assert omar["gold_agreement"] is None
    assert omar["n_rankings"] == 1 and omar["median_seconds"] == 30.0
    assert omar["skip_rate"] == 0.5  # one skip, one ranking


def test_filters(project, campaign):
    assert project_agreement(project, category="chat")["n_tasks_with_overlap"] == 1
    empty = project_agreement(project, category="rewrite")
    assert empty["n_tasks_with_overlap"] == 0
    assert empty["pairwise_agreement"] is None and empty["pairwise_agreement_ci"] == [None, None]
    future = timezone.localdate() + dt.timedelta(days=1)
    assert project_agreement(project, since=future)["labelers"] == []
    assert project_agreement(project, until=future)["n_tasks_with_overlap"] == 1


def test_cache_follows_new_rankings(
    project, campaign, other_labeler, django_capture_on_commit_callbacks
):
    first = project_agreement(project)
    assert project_agreement(project) == first
    # omar corrects his ranking to agree fully: the new version replaces the old one.
    with django_capture_on_commit_callbacks(execute=True):
        rank(campaign, other_labeler, [1, 2, 3, 4], seconds=30)
    assert Ranking.objects.filter(task=campaign, labeler=other_labeler).count() == 2
    assert project_agreement(project)["pairwise_agreement"] == 1.0


def test_gold_edit_invalidates(project, campaign, labeler, django_capture_on_commit_callbacks):
    gold = project.tasks.get(is_gold=True)
    assert project_agreement(project)["labelers"][0]["gold_agreement"] == pytest.approx(5 / 6)
    with django_capture_on_commit_callbacks(execute=True):
        gold.gold_ranks = [1, 2, 3, 4]
        gold.save()
    assert project_agreement(project)["labelers"][0]["gold_agreement"] == 1.0


def test_command_json(project, campaign):
    out = StringIO()
    call_command("agreement", "--project", project.slug, "--json", stdout=out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(project_agreement(project)))
    text = StringIO()
    call_command("agreement", "--project", project.slug, stdout=text)
    assert "pairwise agreement: 0.833" in text.getvalue()


def test_command_unknown_project(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project"):
        call_command("agreement", "--project", "nope", "--json")


def test_api_serves_the_same_document(client, project, campaign, admin_user):
    client.force_login(admin_user)
    response = client.get(f"/api/v1/projects/{project.slug}/agreement/")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(project_agreement(project)))


def test_command_refuses_filters_the_statistics_refuse(campaign):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--until: must be later than since"):
        call_command("agreement", "--project=campaign", "--since=2024-02-01", "--until=2024-02-01")
