"""Every invariant the database holds, checked by violating it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.intake import dedup
from labeling.models import (
    Assignment,
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)

pytestmark = pytest.mark.django_db


def violates(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_project_constraints():
    violates(lambda: Project.objects.create(slug="a", name="a", k_min=5, k_max=4))
    violates(lambda: Project.objects.create(slug="b", name="b", k_max=10))
    violates(lambda: Project.objects.create(slug="c", name="c", k_min=1))
    violates(lambda: Project.objects.create(slug="d", name="d", overlap=0))
    violates(lambda: Project.objects.create(slug="e", name="e", gold_rate=1.5))
    violates(lambda: Project.objects.create(slug="f", name="f", likert_max=8))
    Project.objects.create(slug="ok", name="ok")
    violates(lambda: Project.objects.create(slug="ok", name="dup"))


def test_prompt_constraints(project):
    Prompt.objects.create(project=project, text="x", dedup_key="k1")
    violates(lambda: Prompt.objects.create(project=project, text="y", dedup_key="k1"))
    violates(lambda: Prompt.objects.create(project=project, text="", dedup_key="k2"))
    violates(lambda: Prompt.objects.create(project=project, text="z", dedup_key="k3", split="dev"))
    Prompt.objects.create(project=project, text="a", dedup_key="k4", external_id="e1")
    violates(
        lambda: Prompt.objects.create(project=project, text="b", dedup_key="k5", external_id="e1")
    )
    # Many prompts without an external id are fine.
    Prompt.objects.create(project=project, text="c", dedup_key="k6")
    Prompt.objects.create(project=project, text="d", dedup_key="k7")


def test_response_text_unique_per_prompt(project):
    prompt = Prompt.objects.create(project=project, text="p", dedup_key="k")
    Response.objects.create(prompt=prompt, text="r", text_hash=dedup.text_hash("r"))
    violates(
        lambda: Response.objects.create(prompt=prompt, text="r", text_hash=dedup.text_hash("r"))
    )


def test_task_constraints(make_task, project):
    task = make_task(k=4)
    violates(lambda: RankingTask.objects.create(project=project, prompt=task.prompt, k=10))
    violates(lambda: RankingTask.objects.create(project=project, prompt=task.prompt, k=1))
    violates(
        lambda: RankingTask.objects.create(project=project, prompt=task.prompt, k=4, overlap=0)
    )
    violates(
        lambda: RankingTask.objects.create(project=project, prompt=task.prompt, k=4, is_gold=True)
    )
    first = task.task_responses.first()
    violates(lambda: TaskResponse.objects.create(task=task, response=first.response, position=8))
    other = Response.objects.create(prompt=task.prompt, text="new", text_hash="h")
    violates(lambda: TaskResponse.objects.create(task=task, response=other, position=0))


def test_assignment_one_slot_per_labeler(make_task, labeler):
    task = make_task()
    now = timezone.now()
    Assignment.objects.create(
        task=task, labeler=labeler, leased_at=now, expires_at=now + timedelta(minutes=30)
    )
    violates(
        lambda: Assignment.objects.create(
            task=task, labeler=labeler, leased_at=now, expires_at=now + timedelta(minutes=1)
        )
    )
    task2 = make_task()
    violates(
        lambda: Assignment.objects.create(
            task=task2, labeler=labeler, leased_at=now, expires_at=now
        )
    )
    violates(
        lambda: Assignment.objects.create(
            task=task2,
            labeler=labeler,
            leased_at=now,
            expires_at=now + timedelta(minutes=1),
            status="skipped",
        )
    )


def test_ranking_and_item_constraints(make_task, labeler):
    task = make_task()
    ranking = Ranking.objects.create(task=task, labeler=labeler)
    violates(lambda: Ranking.objects.create(task=task, labeler=labeler, version=2))  # two current
    violates(
        lambda: Ranking.objects.create(task=task, labeler=labeler, version=1, is_current=False)
    )
    Ranking.objects.create(
        task=task, labeler=labeler, version=2, is_current=False, submission_key="k"
    )
    violates(
        lambda: Ranking.objects.create(
            task=task, labeler=labeler, version=3, is_current=False, submission_key="k"
        )
    )
    response = task.responses.first()
    violates(lambda: RankingItem.objects.create(ranking=ranking, response=response, rank=0))
    violates(
        lambda: RankingItem.objects.create(ranking=ranking, response=response, rank=1, likert=8)
    )
    violates(
        lambda: RankingItem.objects.create(ranking=ranking, response=response, rank=1, likert=0)
    )
    RankingItem.objects.create(ranking=ranking, response=response, rank=1, likert=7)
    violates(lambda: RankingItem.objects.create(ranking=ranking, response=response, rank=2))


def test_demonstration_constraints(make_task, labeler):
    prompt = make_task().prompt
    violates(lambda: Demonstration.objects.create(prompt=prompt, author=labeler, text=""))
    violates(
        lambda: Demonstration.objects.create(
            prompt=prompt, author=labeler, text="x", seconds_spent=-1
        )
    )
    violates(
        lambda: Demonstration.objects.create(prompt=prompt, author=labeler, text="x", status="meh")
    )


def test_deleting_a_checkpoint_clears_its_responses(project):
    """``Response.checkpoint_id`` is no foreign key: training clears it when the checkpoint
    that generated the response is deleted (what SET_NULL did)."""
    from training.models import Checkpoint

    prompt = Prompt.objects.create(project=project, text="Say hi.", dedup_key="say hi")
    kept, gone = (Checkpoint.objects.create(name=n, kind="sft", path=f"/tmp/{n}") for n in "ab")
    responses = [
        Response.objects.create(prompt=prompt, text=t, text_hash=t, checkpoint_id=c.pk)
        for t, c in (("x", kept), ("y", gone))
    ]
    Checkpoint.objects.filter(pk=gone.pk).delete()
    assert [Response.objects.get(pk=r.pk).checkpoint_id for r in responses] == [kept.pk, None]
