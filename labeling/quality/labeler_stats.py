"""A labeler's own numbers for the home page: queue, throughput, time, agreement.

Agreement is pairwise: of the response pairs both rankings order strictly, the share they
order the same way. It is only computed on tasks the labeler has already ranked, so the
home page never shows another labeler's judgement of a task the labeler could still label.
"""

import statistics
from collections import defaultdict
from datetime import datetime, time

from django.utils import timezone

from labeling.assignment import demonstrations, engine
from labeling.models import Assignment, Demonstration, Project, Ranking, RankingItem

RECENT = 200


def pair_agreement(a: dict, b: dict) -> tuple[int, int]:
    """(agreeing, compared) over responses both rank maps share, ties left out."""
    keys = sorted(set(a) & set(b))
    agree = total = 0
    for i, x in enumerate(keys):
        for y in keys[i + 1 :]:
            da, db = a[x] - a[y], b[x] - b[y]
            if da and db:
                total += 1
                agree += (da > 0) == (db > 0)
    return agree, total


def _rank_maps(ranking_ids):
    maps = defaultdict(dict)
    for rid, response_id, rank in RankingItem.objects.filter(
        ranking_id__in=ranking_ids
    ).values_list("ranking_id", "response_id", "rank"):
        maps[rid][response_id] = rank
    return maps


def _share(agree, total):
    return round(agree / total, 3) if total else None


def agreement(project: Project, labeler) -> dict:
    mine = list(
        Ranking.objects.filter(task__project=project, labeler=labeler, is_current=True)
        .order_by("-submitted_at")
        .values_list("pk", "task_id")[:RECENT]
    )
    task_ids = [task_id for _, task_id in mine]
    others = list(
        Ranking.objects.filter(task_id__in=task_ids, is_current=True)
        .exclude(labeler=labeler)
        .values_list("pk", "task_id")
    )
    maps = _rank_maps([pk for pk, _ in mine] + [pk for pk, _ in others])
    mine_by_task = {task_id: maps[pk] for pk, task_id in mine}
    agree = total = 0
    for pk, task_id in others:
        a, t = pair_agreement(mine_by_task[task_id], maps[pk])
        agree, total = agree + a, total + t
    gold_agree = gold_total = 0
    gold_tasks = project.tasks.filter(pk__in=task_ids, is_gold=True).prefetch_related(
        "task_responses"
    )
    for task in gold_tasks:
        reference = {
            tr.response_id: rank
            for tr, rank in zip(task.task_responses.all(), task.gold_ranks, strict=False)
        }
        a, t = pair_agreement(mine_by_task[task.pk], reference)
        gold_agree, gold_total = gold_agree + a, gold_total + t
    return {
        "with_others": _share(agree, total),
        "with_gold": _share(gold_agree, gold_total),
    }


def home_stats(project: Project, user) -> dict:
    now = timezone.now()
    start = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    rankings = Ranking.objects.filter(task__project=project, labeler=user)
    seconds = list(
        rankings.order_by("-submitted_at").values_list("seconds_spent", flat=True)[:RECENT]
    )
    return {
        "tasks_open": engine.queue_size(project, user, now=now),
        "holding": Assignment.objects.filter(
            task__project=project, labeler=user, status="active", expires_at__gt=now
        ).exists(),
        "prompts_open": demonstrations.open_prompts(project, user).count(),
        "rankings_today": rankings.filter(submitted_at__gte=start).count(),
        "demonstrations_today": Demonstration.objects.filter(
            prompt__project=project, author=user, created_at__gte=start
        ).count(),
        "rankings_total": rankings.count(),
        "median_seconds": round(statistics.median(seconds)) if seconds else None,
        **agreement(project, user),
    }
