"""The hand-written representations of tasks, rankings and `next` bodies (the labeling hot
path) say exactly what their declared fields say, which is what the schema documents; and
the records the hot path builds from its own statements equal those built from the ORM."""

import dataclasses

import pytest
from rest_framework import serializers

from api import serializers as s
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.assignment.records import RankingRecord, TaskRecord
from labeling.assignment.sql import task_record
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


def fetched(task) -> TaskRecord:
    """The task's record built from the ORM, as the list and detail endpoints build it."""
    task = (
        RankingTask.objects.select_related("project", "prompt")
        .prefetch_related("task_responses__response")
        .get(pk=task.pk)
    )
    return TaskRecord.of(task)


def test_task_as_the_fields_give_it_with_and_without_gold(gold_task):
    task = fetched(gold_task)
    full = by_fields(s.RankingTaskSerializer, task)
    assert full["is_gold"] is True and full["gold_ranks"] == [2, 1, 1, 3]
    assert s.RankingTaskSerializer(task, context={"sees_gold": lambda pk: True}).data == full
    blind = s.RankingTaskSerializer(task).data
    assert "is_gold" not in blind and "gold_ranks" not in blind
    assert blind == {k: v for k, v in full.items() if k not in ("is_gold", "gold_ranks")}
    assert list(blind) == [k for k in full if k in blind]  # same key order


def test_task_loaded_in_one_statement_is_the_same_record(gold_task):
    record = task_record(gold_task.pk)
    assert record == fetched(gold_task)
    assert [r.position for r in record.responses] == list(range(gold_task.k))
    assert record.prompt.messages[0] == {"role": "user", "content": "Hi <b>"}


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
    assert second.supersedes == first.id
    # what record_ranking returns is what a later read gives (the first since superseded)
    for written in (dataclasses.replace(first, is_current=False), second):
        stored = Ranking.objects.select_related("labeler").prefetch_related("items")
        stored = RankingRecord.of(stored.get(pk=written.id))
        assert stored == written
        assert s.RankingSerializer(stored).data == by_fields(s.RankingSerializer, stored)


def test_next_body_as_the_fields_give_it(make_task, labeler):
    make_task(k=5)
    held = engine.next_assignment(make_task(k=4).project, labeler)
    task = task_record(held.task_id)
    body = {"assignment": held, "task": task, "display_order": engine.display_order(task, labeler)}
    generic = by_fields(s.NextAssignmentSerializer, body)
    assert s.NextAssignmentSerializer(body).data == generic
    assert "is_gold" not in generic["task"]


def project_flag(task):
    return task.project.flags[0]
