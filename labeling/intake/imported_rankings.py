"""Imported preferences: the users a file's rankings are recorded under, and each ranking
recorded as a collected one is (the row importers in ``importers.py`` call these)."""

from django.contrib.auth import get_user_model
from django.db.models import F

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.intake import dedup
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.intake.responses import add_response, check_response, get_or_create_response
from labeling.models import Ranking, RankingTask, Response, TaskResponse


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
    return ImportedRankings().record(project, prompt, texts, ranks, labeler, likert)


class ImportedRankings:
    """``record_imported_ranking`` for a file's rows: what a chunk of rows asks about its
    prompts (their responses, their imported tasks and who ranked those) is asked in a few
    queries by ``prefetch`` and kept, with what the rows add, until ``forget`` (after the
    chunk, or when a row's savepoint was rolled back and the answers may be gone)."""

    def __init__(self):
        self.forget()

    def forget(self) -> None:
        self.responses = {}  # (prompt id, text hash) -> Response
        self.tasks = {}  # prompt id -> [(imported task, its response ids by position)]
        self.ranked = set()  # (task id, labeler id) of the current rankings of those tasks
        # prompts whose responses to the chunk's texts are all in ``responses``
        self.complete = set()

    def prefetch(self, prompts, texts) -> None:
        ids = {prompt.pk for prompt in prompts} - self.tasks.keys()
        hashes = set()
        for text in texts:
            try:
                hashes.add(dedup.text_hash(text))
            except UnicodeEncodeError:  # refused in its row's turn (check_response)
                pass
        found = Response.objects.filter(prompt_id__in=ids, text_hash__in=hashes)
        self.responses.update(((r.prompt_id, r.text_hash), r) for r in found)
        self.complete |= ids
        self._load_tasks(ids)

    def _load_tasks(self, prompt_ids) -> None:
        tasks = RankingTask.objects.filter(
            prompt_id__in=prompt_ids, source=RankingTask.Source.IMPORTED
        ).select_related("project")
        tasks = {task.pk: task for task in tasks}
        order = {pk: [] for pk in tasks}
        positions = TaskResponse.objects.filter(task_id__in=tasks).order_by("task_id", "position")
        for task_id, response_id in positions.values_list("task_id", "response_id"):
            order[task_id].append(response_id)
        for prompt_id in prompt_ids:
            self.tasks[prompt_id] = []
        for task in tasks.values():
            self.tasks[task.prompt_id].append((task, order[task.pk]))
        current = Ranking.objects.filter(task_id__in=tasks, is_current=True)
        self.ranked |= set(current.values_list("task_id", "labeler_id"))

    def _response(self, prompt, text):
        # get_or_create_response's own checks, in its order, before the cache is asked
        check_response(text, origin=Response.Origin.MODEL, model_name="")
        key = (prompt.pk, dedup.text_hash(text))
        if key not in self.responses:
            new = prompt.pk in self.complete  # not in the database: no need to look
            add = add_response if new else get_or_create_response
            self.responses[key] = add(prompt, text)
        return self.responses[key]

    def _task(self, prompt, response_ids: set[int]):
        if prompt.pk not in self.tasks:
            self._load_tasks({prompt.pk})
        for task, order in self.tasks[prompt.pk]:
            if task.k == len(response_ids) and set(order) == response_ids:
                return task, order
        return None, None

    def record(self, project, prompt, texts, ranks, labeler, likert=None, *, new_prompt=False):
        """``record_imported_ranking``; ``new_prompt``: the prompt was made by this import's
        chunk (so it has no responses nor tasks but those the chunk gave it)."""
        if new_prompt:
            self.tasks[prompt.pk] = []
            self.complete.add(prompt.pk)
        responses = [self._response(prompt, t) for t in texts]
        item_of = {
            response.id: ItemInput(rank=rank, likert=None if likert is None else likert[i])
            for i, (response, rank) in enumerate(zip(responses, ranks, strict=True))
        }
        task, order = self._task(prompt, set(item_of))
        if task is not None and (task.pk, labeler.pk) in self.ranked:
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
            order = [response.id for response in responses]
            self.tasks[prompt.pk].append((task, order))
        else:
            RankingTask.objects.filter(pk=task.pk).update(overlap=F("overlap") + 1)
        # the items in the task's order of its responses, whatever order this row gave them
        # in; the labeler has no current ranking of it (else AlreadyRanked)
        items = [item_of[r] for r in order]
        record = record_ranking(task, labeler, items, response_ids=order, current=None)
        self.ranked.add((task.pk, labeler.pk))
        return record
