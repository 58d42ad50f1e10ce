"""The hand-written representations of tasks, rankings and `next` bodies (the labeling hot
path) say exactly what their declared fields say, which is what the schema documents."""

import pytest
from rest_framework import serializers

from api import serializers as s
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.assignment.sql import task_with_responses
from labeling.models import Prompt, Ranking, RankingTask


def by_fields(serializer_class, instance, **kwargs):
    """What DRF's generic field-by-field representation gives."""
    serializer = serializer_class(instance, **kwargs)
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.fixture
def gold_task(make_task):
    task = make_task(k=4, is_gold=True, gold_ranks=[2, 1, 1, 3])
    Prompt.objects.filter(pk=task.prompt_id).update(
        messages=[{"role": "user", "content": "Hi <b>"}, {"role": "assistant", "content": "?"}],
        category="brainstorming",
    )
    return task


def fetched(task):
    return (
        RankingTask.objects.select_related("project", "prompt")
        .prefetch_related("task_responses__response")
        .get(pk=task.pk)
    )


def test_task_as_the_fields_give_it_with_and_without_gold(gold_task):
    task = fetched(gold_task)
    full = by_fields(s.RankingTaskSerializer, task)
    assert full["is_gold"] is True and full["gold_ranks"] == [2, 1, 1, 3]
    assert s.RankingTaskSerializer(task, context={"sees_gold": lambda pk: True}).data == full
    blind = s.RankingTaskSerializer(task).data
    assert "is_gold" not in blind and "gold_ranks" not in blind
    assert blind == {k: v for k, v in full.items() if k not in ("is_gold", "gold_ranks")}
    assert list(blind) == [k for k in full if k in blind]  # same key order


def test_task_loaded_in_one_statement_shows_the_same(gold_task):
    task = task_with_responses(gold_task.pk)
    task.project = gold_task.project
    seen = {"sees_gold": lambda pk: True}
    assert s.RankingTaskSerializer(task, context=seen).data == by_fields(
        s.RankingTaskSerializer, fetched(gold_task)
    )


def test_ranking_as_the_fields_give_it(make_task, labeler):
    task = make_task(k=4)
    first = record_ranking(task, labeler, [ItemInput(rank=r) for r in (1, 2, 2, 3)])
    second = record_ranking(
        task,
        labeler,
        [ItemInput(rank=r, likert=5, flags=[project_flag(task)]) for r in (2, 1, 3, 4)],
        comment="changed <my> mind",
        seconds_spent=12.5,
    )
    assert second.supersedes_id == first.pk
    for ranking in (first, second):
        stored = Ranking.objects.select_related("labeler").prefetch_related("items")
        stored = stored.get(pk=ranking.pk)
        assert s.RankingSerializer(stored).data == by_fields(s.RankingSerializer, stored)


def test_next_body_as_the_fields_give_it(make_task, labeler):
    make_task(k=5)
    held = engine.next_assignment(make_task(k=4).project, labeler)
    task = fetched(held.task)
    body = {"assignment": held, "task": task, "display_order": engine.display_order(task, labeler)}
    generic = by_fields(s.NextAssignmentSerializer, body)
    assert s.NextAssignmentSerializer(body).data == generic
    assert "is_gold" not in generic["task"]


def project_flag(task):
    return task.project.flags[0]
