"""Screening: qualification by gold results and demonstrations, admin decisions."""

import pytest
from django.urls import reverse

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.models import Demonstration, Qualification, RankingTask
from labeling.quality import screening


def rank(task, user, ranks):
    return record_ranking(task, user, [ItemInput(r) for r in ranks])


@pytest.fixture
def screened(project):
    project.requires_screening = True
    project.screening_threshold = 0.8
    project.screening_min_tasks = 2
    project.save()
    return project


@pytest.fixture
def gold(screened, make_task):
    return [make_task(k=4, is_gold=True, gold_ranks=[1, 2, 3, 4]) for _ in range(2)]


def test_off_means_everyone_is_qualified(project, labeler):
    assert screening.is_qualified(project, labeler)


def test_screening_tasks_are_the_gold_tasks(screened, gold, make_task):
    make_task(k=4)
    assert screening.screening_task_ids(screened) == [t.pk for t in gold]


def test_qualifies_on_reaching_the_threshold(screened, gold, labeler):
    assert not screening.is_qualified(screened, labeler)
    rank(gold[0], labeler, [1, 2, 3, 4])
    # One gold task of the two required: not yet, even with perfect agreement.
    assert screening.results(screened, labeler)["gold_tasks"] == 1
    assert not screening.is_qualified(screened, labeler)
    rank(gold[1], labeler, [1, 2, 4, 3])
    # 6 + 5 of 12 pairs agree: 11/12 >= 0.8.
    result = screening.results(screened, labeler)
    assert result["gold_agreement"] == pytest.approx(11 / 12)
    assert screening.is_qualified(screened, labeler)


def test_below_threshold_stays_unqualified(screened, gold, labeler):
    rank(gold[0], labeler, [4, 3, 2, 1])
    rank(gold[1], labeler, [1, 2, 3, 4])
    assert screening.results(screened, labeler)["gold_agreement"] == pytest.approx(6 / 12)
    assert not screening.is_qualified(screened, labeler)


def test_demonstrations_are_part_of_the_bar(screened, gold, labeler, reviewer, make_task):
    screened.screening_min_demonstrations = 2
    screened.save()
    rank(gold[0], labeler, [1, 2, 3, 4])
    rank(gold[1], labeler, [1, 2, 3, 4])
    assert not screening.is_qualified(screened, labeler)
    prompt = make_task(k=4).prompt
    for status in ["accepted", "rejected"]:
        Demonstration.objects.create(prompt=prompt, author=labeler, text="x", status=status)
    assert screening.results(screened, labeler)["demonstration_acceptance"] == 0.5
    assert not screening.is_qualified(screened, labeler)
    Demonstration.objects.filter(status="rejected").update(status="accepted")
    assert screening.is_qualified(screened, labeler)


def test_decisions_override_and_are_recorded(screened, gold, labeler, reviewer, other_labeler):
    assert not screening.is_qualified(screened, labeler)
    decision = screening.decide(screened, labeler, "approved", reviewer, " looks fine ")
    assert decision.note == "looks fine" and decision.gold_tasks == 0
    assert screening.is_qualified(screened, labeler)
    screening.decide(screened, labeler, "revoked", reviewer)
    assert not screening.is_qualified(screened, labeler)
    assert list(Qualification.objects.filter(user=labeler).values_list("decision", flat=True)) == [
        "approved",
        "revoked",
    ]
    with pytest.raises(screening.ScreeningError, match="only reviewers"):
        screening.decide(screened, labeler, "approved", other_labeler)
    with pytest.raises(screening.ScreeningError, match="decision"):
        screening.decide(screened, labeler, "maybe", reviewer)


@pytest.mark.parametrize(
    "decision, decided_by, candidate, note, field",
    [
        ("maybe", "reviewer", "labeler", "", "decision"),
        ("approved", "other_labeler", "labeler", "", "decided_by"),
        ("approved", "reviewer", "stranger", "", "user"),
        ("approved", "reviewer", "labeler", "ok\x00", "note"),
    ],
)
def test_refusals_are_typed_and_name_the_field(
    screened, labeler, other_labeler, reviewer, decision, decided_by, candidate, note, field
):
    from django.contrib.auth import get_user_model

    from labeling.errors import ServiceError

    people = {"labeler": labeler, "other_labeler": other_labeler, "reviewer": reviewer}
    people["stranger"] = get_user_model().objects.create_user("stranger")
    with pytest.raises(ServiceError) as refused:
        screening.decide(screened, people[candidate], decision, people[decided_by], note)
    assert isinstance(refused.value, screening.ScreeningError)
    assert refused.value.field == field
    assert not Qualification.objects.exists()


def test_a_refused_decision_is_said_on_the_screening_page(client, screened, labeler, reviewer):
    client.force_login(reviewer)
    url = reverse("dashboard-screening-decide", args=[screened.slug, labeler.pk])
    response = client.post(url, {"decision": "maybe"}, follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said == ["lena: decision: must be one of approved, revoked"]
    assert not Qualification.objects.exists()


def test_reviewers_are_always_qualified(screened, reviewer):
    assert screening.is_qualified(screened, reviewer)


def test_screening_page_and_decision(client, screened, gold, labeler, reviewer):
    client.force_login(reviewer)
    url = reverse("dashboard-screening", args=[screened.slug])
    page = client.get(url)
    assert page.status_code == 200 and b"lena" in page.content
    response = client.post(
        reverse("dashboard-screening-decide", args=[screened.slug, labeler.pk]),
        {"decision": "approved", "note": "ok"},
    )
    assert response.status_code == 302
    decision = Qualification.objects.get(user=labeler)
    assert decision.decided_by == reviewer and decision.decision == "approved"
    assert screening.is_qualified(screened, labeler)


def test_unqualified_labelers_are_served_only_screening_tasks(
    screened, gold, make_task, labeler, reviewer
):
    from labeling.assignment import engine

    make_task(k=4)  # an ordinary task
    screened.gold_rate = 0.0
    screened.save()
    served = engine.next_assignment(screened, labeler)
    assert served.task_id in screening.screening_task_ids(screened)
    engine.skip_assignment(served, labeler, "later")
    second = engine.next_assignment(screened, labeler)
    engine.skip_assignment(second, labeler, "later")
    assert RankingTask.objects.get(pk=second.task_id).is_gold
    assert engine.next_assignment(screened, labeler) is None  # screening set exhausted
    screening.decide(screened, labeler, "approved", reviewer)
    lease = engine.next_assignment(screened, labeler)
    assert not RankingTask.objects.get(pk=lease.task_id).is_gold
