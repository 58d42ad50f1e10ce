"""Building ranking tasks from a prompt's responses."""

import math
import random

from django.db import transaction

from labeling.errors import ServiceError
from labeling.models import MAX_K, MIN_K, Project, Prompt, RankingTask, Response, TaskResponse
from labeling.projects import MAX_OVERLAP

SELECTION_POLICY_CHARS = RankingTask._meta.get_field("selection_policy").max_length


class TaskError(ServiceError):
    pass


def responses_of(prompt: Prompt, response_ids: list[int]) -> list[Response]:
    """The prompt's responses with these ids, in that order."""
    by_id = {r.pk: r for r in Response.objects.filter(pk__in=response_ids, prompt=prompt)}
    for pk in response_ids:
        if pk not in by_id:
            raise TaskError("responses", f"response {pk} does not answer this prompt")
    return [by_id[pk] for pk in response_ids]


def create_ranking_task(
    project: Project,
    prompt: Prompt,
    responses: list[Response],
    *,
    overlap: int | None = None,
    source: str = RankingTask.Source.LABELING,
    is_gold: bool = False,
    gold_ranks: list[int] | None = None,
    enforce_project_k: bool = True,
    selection_policy: str = "",
    selection_score: float | None = None,
) -> RankingTask:
    """One task over ``responses`` in the given (canonical) order.

    Imported preferences keep whatever K they came with (2..9); tasks built for labelers
    must fit the project's K range.
    """
    k = len(responses)
    low, high = (project.k_min, project.k_max) if enforce_project_k else (MIN_K, MAX_K)
    if not low <= k <= high:
        raise TaskError("responses", f"K={k} is outside the allowed range {low}..{high}")
    if prompt.project_id != project.id:
        raise TaskError("prompt", "belongs to another project")
    if any(r.prompt_id != prompt.id for r in responses):
        raise TaskError("responses", "every response must answer the task's prompt")
    if len({r.id for r in responses}) != k:
        raise TaskError("responses", "the same response appears twice")
    if overlap is not None and (
        isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP
    ):
        raise TaskError("overlap", f"must be an integer from 1 to {MAX_OVERLAP}")
    if not isinstance(selection_policy, str) or len(selection_policy) > SELECTION_POLICY_CHARS:
        raise TaskError("selection_policy", f"at most {SELECTION_POLICY_CHARS} characters")
    if selection_score is not None and not math.isfinite(selection_score):
        raise TaskError("selection_score", "must be a finite number")
    if is_gold:
        from labeling.outputs.comparisons import validate_ranks

        gold_ranks = validate_ranks(gold_ranks or [], k, allow_ties=project.allow_ties)
    with transaction.atomic():
        task = RankingTask.objects.create(
            project=project,
            prompt=prompt,
            k=k,
            overlap=overlap or project.overlap,
            source=source,
            is_gold=is_gold,
            gold_ranks=gold_ranks if is_gold else None,
            selection_policy=selection_policy,
            selection_score=selection_score,
        )
        TaskResponse.objects.bulk_create(
            TaskResponse(task=task, response=r, position=i) for i, r in enumerate(responses)
        )
    return task


def clean_gold(task: RankingTask, is_gold, gold_ranks) -> list[int] | None:
    """The reference ranking ``task`` would store (None: not gold), checked as at creation."""
    from labeling.outputs.comparisons import validate_ranks

    if not isinstance(is_gold, bool):
        raise TaskError("is_gold", "must be true or false")
    if not is_gold:
        return None
    if not isinstance(gold_ranks, list):
        raise TaskError("gold_ranks", f"a gold task needs its reference: {task.k} ranks")
    try:
        return validate_ranks(gold_ranks, task.k, allow_ties=task.project.allow_ties)
    except ServiceError as exc:
        raise TaskError("gold_ranks", exc.message) from exc


def set_gold(task: RankingTask, is_gold: bool, gold_ranks: list[int] | None) -> RankingTask:
    """Make ``task`` a gold task with this reference ranking (a reviewer's), or an ordinary
    one."""
    task.gold_ranks = clean_gold(task, is_gold, gold_ranks)
    task.is_gold = is_gold
    task.save(update_fields=["is_gold", "gold_ranks"])  # post_save refreshes the statistics
    return task


def build_tasks(project: Project, k_min: int, k_max: int, *, seed: int | None = None) -> dict:
    """A labeling task for every prompt that has ≥ k_min responses and no task yet.

    K is the number of responses, capped at k_max by a random subset (so a prompt with
    12 model samples gives a task of 9 random ones).
    """
    if not (project.k_min <= k_min <= k_max <= project.k_max):
        allowed = f"{project.k_min}..{project.k_max}"
        raise TaskError("k", f"{k_min}..{k_max} is outside the project's range {allowed}")
    rng = random.Random(seed)
    summary = {"created": 0, "too_few_responses": 0, "already_tasked": 0}
    prompts = Prompt.objects.filter(project=project).prefetch_related("responses").order_by("id")
    tasked = set(
        RankingTask.objects.filter(project=project, source=RankingTask.Source.LABELING).values_list(
            "prompt_id", flat=True
        )
    )
    with transaction.atomic():
        for prompt in prompts:
            if prompt.id in tasked:
                summary["already_tasked"] += 1
                continue
            responses = list(prompt.responses.all())
            if len(responses) < k_min:
                summary["too_few_responses"] += 1
                continue
            if len(responses) > k_max:
                responses = rng.sample(responses, k_max)
                responses.sort(key=lambda r: r.id)
            create_ranking_task(project, prompt, responses)
            summary["created"] += 1
    return summary
