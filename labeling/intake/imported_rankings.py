"""Imported preferences: the users a file's rankings are recorded under, and each ranking
recorded as a collected one is (the row importers in ``importers.py`` call these)."""

from django.contrib.auth import get_user_model
from django.db.models import F

from labeling.assignment import sql as assignment_sql
from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.intake.responses import get_or_create_response
from labeling.models import RankingTask


class AlreadyRanked(Exception):
    """The labeler has a current ranking of that task already."""


def source_labeler(username: str):
    """The user a file's preferences are recorded under (no password: cannot log in)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model(username=username, is_active=False)
        user.set_unusable_password()
        user.save()
    return user


def record_imported_ranking(project, prompt, texts, ranks, labeler, likert=None):
    """An imported ranking is one labeler's ranking of a task, as a collected one is: rows of
    several labelers for the same prompt and the same responses (in any order) are one task,
    whose overlap grows by one with each labeler, so agreement, consensus and grouped
    exports see an imported multi-labeler campaign as they see a collected one."""
    responses = [get_or_create_response(prompt, t) for t in texts]
    item_of = {
        response.id: ItemInput(rank=rank, likert=None if likert is None else likert[i])
        for i, (response, rank) in enumerate(zip(responses, ranks, strict=True))
    }
    task = _imported_task(prompt, set(item_of))
    if task is not None and task.rankings.filter(labeler=labeler, is_current=True).exists():
        raise AlreadyRanked()
    if task is None:
        task = create_ranking_task(
            project,
            prompt,
            responses,
            overlap=1,
            source=RankingTask.Source.IMPORTED,
            enforce_project_k=False,
        )
    else:
        RankingTask.objects.filter(pk=task.pk).update(overlap=F("overlap") + 1)
    # the items in the task's order of its responses, whatever order this row gave them in
    order = assignment_sql.response_ids(task.pk)
    return record_ranking(task, labeler, [item_of[r] for r in order], response_ids=order)


def _imported_task(prompt, response_ids: set[int]):
    candidates = RankingTask.objects.filter(
        prompt=prompt, source=RankingTask.Source.IMPORTED, k=len(response_ids)
    ).prefetch_related("task_responses")
    for task in candidates:
        if {tr.response_id for tr in task.task_responses.all()} == response_ids:
            return task
    return None
