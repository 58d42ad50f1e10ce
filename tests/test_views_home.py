"""The home page: queue counts and the labeler's own numbers."""

from django.urls import reverse

from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput, record_ranking


def test_home_lists_queue_and_stats(project, make_task, client, labeler, other_labeler):
    make_task()
    gold = make_task(is_gold=True, gold_ranks=[1, 2, 3, 4])
    shared = make_task(overlap=2)
    items = [ItemInput(rank=r, likert=4) for r in (1, 2, 3, 4)]
    record_ranking(gold, labeler, items, seconds_spent=30)
    record_ranking(shared, labeler, items, seconds_spent=50)
    reversed_items = [ItemInput(rank=r, likert=4) for r in (4, 3, 2, 1)]
    record_ranking(shared, other_labeler, reversed_items)
    client.force_login(labeler)
    html = client.get(reverse("home")).content.decode()
    assert 'data-stat="tasks_open">1<' in html  # the one normal task left; gold not counted
    assert "2 rankings, 0 demonstrations" in html
    assert 'data-stat="median_seconds">40 s<' in html
    assert 'data-stat="with_others">0%<' in html
    assert 'data-stat="with_gold">100%<' in html
    assert reverse("rank-next", args=[project.slug]) in html


def test_home_without_projects(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody"))
    assert b"You have no project yet" in client.get(reverse("home")).content


def test_stats_do_not_leak_open_tasks(project, make_task, client, labeler, other_labeler):
    task = make_task(overlap=2)
    record_ranking(task, other_labeler, [ItemInput(rank=r, likert=4) for r in (1, 2, 3, 4)])
    engine.next_assignment(project, labeler)
    client.force_login(labeler)
    html = client.get(reverse("home")).content.decode()
    assert 'data-stat="with_others">not yet<' in html
