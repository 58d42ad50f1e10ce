"""Many labelers asking for tasks at once: exactly ``overlap`` distinct labelers per task.

Real threads, each with its own database connection, against the test database
(PostgreSQL in CI, where the row locks with ``skip_locked`` are what is being tested).
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from labeling import roles
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.models import Assignment, Ranking

TASKS = 100
OVERLAP = 3
LABELERS = 24


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_concurrent_labelers_fill_every_task_exactly(project, make_task, django_user_model):
    project.gold_rate = 0
    project.save()
    for _ in range(TASKS):
        make_task(k=4, overlap=OVERLAP)
    users = []
    for i in range(LABELERS):
        user = django_user_model.objects.create_user(f"worker{i}")
        roles.grant(user, project, "labeler")
        users.append(user)
    barrier = threading.Barrier(LABELERS)
    errors = []
    held_twice = []

    def work(user):
        try:
            barrier.wait()
            while True:
                a = engine.next_assignment(project, user)
                if a is None:
                    return
                active = Assignment.objects.filter(labeler=user, status="active").count()
                if active != 1:
                    held_twice.append(user.pk)
                engine.submit_ranking(
                    a,
                    user,
                    [ItemInput(rank=r, likert=3) for r in (1, 2, 3, 4)],
                    submission_key=f"{user.pk}-{a.id}",
                )
        except Exception as exc:  # any error fails the test below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=200)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert held_twice == []
    per_task = Counter(Ranking.objects.values_list("task_id", flat=True))
    assert len(per_task) == TASKS
    assert set(per_task.values()) == {OVERLAP}
    pairs = list(Ranking.objects.values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs)) == TASKS * OVERLAP
    assert Assignment.objects.count() == TASKS * OVERLAP
    assert not Assignment.objects.exclude(status="submitted").exists()
    # The work spread across labelers rather than a few taking everything.
    assert len({labeler for _, labeler in pairs}) == LABELERS


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_one_labeler_in_many_tabs_holds_one_task(project, make_task, labeler):
    for _ in range(5):
        make_task(overlap=3)
    barrier = threading.Barrier(8)
    got, errors = [], []

    def work():
        try:
            barrier.wait()
            got.append(engine.next_assignment(project, labeler).id)
        except Exception as exc:  # any error fails the test below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert errors == [] and len(set(got)) == 1
    assert Assignment.objects.filter(labeler=labeler).count() == 1
