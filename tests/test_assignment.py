"""The assignment engine: overlap, leases, gold mixing, skip, drafts, idempotent submits."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.assignment import engine
from labeling.assignment.engine import SubmissionError
from labeling.assignment.rankings import ItemInput
from labeling.models import Assignment, Ranking, RankingItem, RankingTask


def is_gold(lease) -> bool:
    return RankingTask.objects.get(pk=lease.task_id).is_gold


def items(k, ranks=None, likert=4):
    ranks = ranks or list(range(1, k + 1))
    return [ItemInput(rank=r, likert=likert) for r in ranks]


def test_non_member_gets_no_task(project, make_task, django_user_model):
    make_task()
    stranger = django_user_model.objects.create_user("stranger", password="x")
    with pytest.raises(engine.NotAMember):
        engine.next_assignment(project, stranger)


def test_existing_active_assignment_comes_first(project, make_task, labeler):
    make_task()
    make_task()
    first = engine.next_assignment(project, labeler)
    assert engine.next_assignment(project, labeler) == first
    assert Assignment.objects.count() == 1


def test_overlap_gives_exactly_n_distinct_labelers(project, make_task, django_user_model):
    from labeling import roles

    task = make_task(overlap=2)
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(3)]
    for user in users:
        roles.grant(user, project, "labeler")
    got = [engine.next_assignment(project, u) for u in users]
    assert [a.task_id if a else None for a in got] == [task.pk, task.pk, None]


def test_never_the_same_task_twice(project, make_task, labeler):
    task = make_task(overlap=3)
    a = engine.next_assignment(project, labeler)
    engine.submit_ranking(a, labeler, items(4))
    assert engine.next_assignment(project, labeler) is None
    assert Assignment.objects.filter(task=task, labeler=labeler).count() == 1


def test_prefers_tasks_closest_to_completion(project, make_task, labeler, other_labeler):
    make_task(overlap=3)
    second = make_task(overlap=3)
    first_assignment = engine.next_assignment(project, other_labeler)
    assert first_assignment.task_id != second.pk
    mine = engine.next_assignment(project, labeler)
    assert mine.task_id == first_assignment.task_id  # the one already a third done


def test_gold_mixed_at_rate_and_only_instead_of_normal(project, make_task, labeler):
    make_task()
    gold = make_task(is_gold=True, gold_ranks=[1, 2, 3, 4])
    project.gold_rate = 1.0
    project.save()
    a = engine.next_assignment(project, labeler)
    assert a.task_id == gold.pk
    engine.submit_ranking(a, labeler, items(4))
    # No gold left: a normal task replaces it.
    assert is_gold(engine.next_assignment(project, labeler)) is False


def test_gold_not_served_when_normal_queue_is_empty(project, make_task, labeler):
    make_task(is_gold=True, gold_ranks=[1, 2, 3, 4])
    assert engine.next_assignment(project, labeler, rng=random.Random(1)) is None


def test_gold_rate_is_respected_statistically(project, make_task, django_user_model):
    from labeling import roles

    project.gold_rate = 0.25
    project.save()
    for _ in range(3):
        make_task(overlap=100)
    make_task(overlap=100, is_gold=True, gold_ranks=[1, 2, 3, 4])
    rng = random.Random(7)
    gold = 0
    for i in range(100):
        user = django_user_model.objects.create_user(f"g{i}")
        roles.grant(user, project, "labeler")
        gold += is_gold(engine.next_assignment(project, user, rng=rng))
    assert 12 <= gold <= 40  # 25% of 100 = 25, sd 4.3


def test_only_gold_serves_the_screening_set(project, make_task, labeler):
    make_task()
    gold = make_task(is_gold=True, gold_ranks=[1, 2, 3, 4])
    project.gold_rate = 0
    project.save()
    a = engine.next_assignment(project, labeler, only_gold=True)
    assert a.task_id == gold.pk
    engine.submit_ranking(a, labeler, items(4))
    assert engine.next_assignment(project, labeler, only_gold=True) is None


def test_imported_tasks_are_not_served(project, make_task, labeler):
    make_task(source="imported")
    assert engine.next_assignment(project, labeler) is None


def test_lease_expiry_returns_the_slot(project, make_task, labeler, other_labeler):
    task = make_task(overlap=1)
    now = timezone.now()
    a = engine.next_assignment(project, labeler, now=now)
    later = now + timedelta(minutes=project.lease_minutes + 1)
    assert engine.next_assignment(project, other_labeler, now=now) is None
    b = engine.next_assignment(project, other_labeler, now=later)
    assert b.task_id == task.pk
    # The first labeler's late submission is refused: the slot is taken.
    with pytest.raises(SubmissionError, match="lease on this task expired"):
        engine.submit_ranking(a, labeler, items(4), now=later)
    assert not Ranking.objects.filter(labeler=labeler).exists()


def test_late_submission_accepted_when_slot_still_free(project, make_task, labeler):
    make_task(overlap=1)
    now = timezone.now()
    a = engine.next_assignment(project, labeler, now=now)
    later = now + timedelta(hours=2)
    assert engine.expire_leases(now=later) == 1
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "expired"
    ranking = engine.submit_ranking(a, labeler, items(4), now=later)
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "submitted" and ranking.assignment_id == a.id


def test_expire_leases_only_touches_expired(project, make_task, labeler):
    make_task()
    now = timezone.now()
    engine.next_assignment(project, labeler, now=now)
    assert engine.expire_leases(now=now + timedelta(minutes=1)) == 0
    assert engine.expire_leases(now=now + timedelta(minutes=31)) == 1


def test_submission_is_idempotent(project, make_task, labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    first = engine.submit_ranking(a, labeler, items(4), submission_key="k1")
    again = engine.submit_ranking(a, labeler, items(4, [4, 3, 2, 1]), submission_key="k1")
    other_key = engine.submit_ranking(a, labeler, items(4), submission_key="k2")
    assert first.id == again.id == other_key.id
    assert Ranking.objects.count() == 1 and RankingItem.objects.count() == 4


def test_submission_key_of_another_task_is_refused(project, make_task, labeler):
    make_task()
    make_task()
    a = engine.next_assignment(project, labeler)
    engine.submit_ranking(a, labeler, items(4), submission_key="same")
    b = engine.next_assignment(project, labeler)
    with pytest.raises(SubmissionError, match="submission_key"):
        engine.submit_ranking(b, labeler, items(4), submission_key="same")


def test_items_are_validated_with_a_named_field(project, make_task, labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    with pytest.raises(SubmissionError, match="^ranks:"):
        engine.submit_ranking(a, labeler, items(3))
    with pytest.raises(SubmissionError, match="^likert:"):
        engine.submit_ranking(a, labeler, items(4, likert=8))
    with pytest.raises(SubmissionError, match="^likert:"):
        engine.submit_ranking(a, labeler, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
    with pytest.raises(SubmissionError, match="^flags:"):
        engine.submit_ranking(
            a, labeler, [ItemInput(rank=r, likert=1, flags=["x"]) for r in (1, 2, 3, 4)]
        )
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "active"


def test_all_unacceptable_is_recorded(project, make_task, labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    ranking = engine.submit_ranking(a, labeler, items(4, [1, 2, 2, 3]), all_unacceptable=True)
    assert ranking.all_unacceptable is True
    assert sorted(item.rank for item in ranking.items) == [1, 2, 2, 3]


def test_another_labelers_assignment_is_refused(project, make_task, labeler, other_labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    with pytest.raises(SubmissionError, match="another labeler"):
        engine.submit_ranking(a, other_labeler, items(4))
    with pytest.raises(SubmissionError, match="another labeler"):
        engine.skip_assignment(a, other_labeler, "no")
    with pytest.raises(SubmissionError, match="another labeler"):
        engine.save_draft(a, other_labeler, {})


def test_skip_returns_slot_and_never_again(project, make_task, labeler, other_labeler):
    task = make_task(overlap=1)
    a = engine.next_assignment(project, labeler)
    with pytest.raises(SubmissionError, match="^reason:"):
        engine.skip_assignment(a, labeler, "  ")
    engine.skip_assignment(a, labeler, "I don't know the topic")
    a = Assignment.objects.get(pk=a.id)
    assert (a.status, a.skip_reason) == ("skipped", "I don't know the topic")
    assert engine.next_assignment(project, labeler) is None
    assert engine.next_assignment(project, other_labeler).task_id == task.pk
    with pytest.raises(SubmissionError, match="skipped"):
        engine.submit_ranking(a, labeler, items(4))


def test_throttle_refuses_fast_submissions_and_keeps_draft(project, make_task, labeler):
    project.min_seconds_per_task = 20
    project.save()
    make_task()
    now = timezone.now()
    a = engine.next_assignment(project, labeler, now=now)
    engine.save_draft(a, labeler, {"groups": [[0], [1]]})
    with pytest.raises(SubmissionError, match="at least 20 seconds"):
        engine.submit_ranking(a, labeler, items(4), now=now + timedelta(seconds=5))
    a = Assignment.objects.get(pk=a.id)
    assert a.draft == {"groups": [[0], [1]]} and a.status == "active"
    ranking = engine.submit_ranking(
        a, labeler, items(4), seconds_spent=500, now=now + timedelta(seconds=25)
    )
    assert ranking.seconds_spent == pytest.approx(25)  # capped at the lease's age


def test_draft_round_trip_and_closed_assignments(project, make_task, labeler):
    make_task()
    a = engine.next_assignment(project, labeler)
    engine.save_draft(a, labeler, {"likert": {"0": 5}})
    a = Assignment.objects.get(pk=a.id)
    assert a.draft == {"likert": {"0": 5}}
    engine.submit_ranking(a, labeler, items(4))
    a = Assignment.objects.get(pk=a.id)
    assert a.draft is None
    with pytest.raises(SubmissionError):
        engine.save_draft(a, labeler, {"x": 1})


def test_display_order_is_stable_and_per_labeler(project, make_task, labeler, other_labeler):
    task = make_task(k=9)
    order = engine.display_order(task, labeler)
    assert sorted(order) == list(range(9))
    assert engine.display_order(task, labeler) == order
    orders = {tuple(engine.display_order(make_task(k=9), labeler)) for _ in range(5)}
    assert len(orders) > 1


def test_celery_task_expires_leases(project, make_task, labeler):
    from labeling import tasks

    make_task()
    a = engine.next_assignment(project, labeler)
    Assignment.objects.filter(pk=a.id).update(
        leased_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),
    )
    assert tasks.expire_leases.apply().get() == 1
    a = Assignment.objects.get(pk=a.id)
    assert a.status == "expired"
