"""Screening new labelers with a qualification set, as InstructGPT selected its labelers.

When ``project.requires_screening`` is on, a labeler is *qualified* when:
- they hold reviewer or admin in the project (they write the gold rankings), or
- the latest ``Qualification`` decision about them is "approved", or
- no decision was taken yet and their results reach the project's bar: at least
  ``screening_min_tasks`` gold tasks ranked with pairwise agreement against the gold
  reference >= ``screening_threshold``, and, when ``screening_min_demonstrations`` > 0, that
  many reviewed demonstrations of which a share >= ``screening_threshold`` was accepted.
A "revoked" decision disqualifies whatever the results say, until an admin approves again.

Until qualified, a labeler gets only screening tasks: the project's gold tasks
(``screening_task_ids``); ``assignment.next_assignment`` asks ``is_qualified``.
"""

import numpy as np
from django.db import transaction

from labeling import roles
from labeling.checks import has_nul
from labeling.errors import ServiceError
from labeling.models import (
    Demonstration,
    Membership,
    Project,
    Qualification,
    Ranking,
    RankingItem,
    RankingTask,
    TaskResponse,
)
from labeling.quality import agreement_stats as stats


class ScreeningError(ServiceError):
    """A refused screening decision; ``field`` names what to fix."""


def screening_task_ids(project: Project) -> list[int]:
    """The qualification set: the project's gold tasks that labelers are served."""
    return list(
        RankingTask.objects.filter(
            project=project,
            is_gold=True,
            source__in=[RankingTask.Source.LABELING, RankingTask.Source.EVALUATION],
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def gold_results(project: Project, user) -> tuple[float | None, int]:
    """(pairwise agreement with the gold references, gold tasks ranked) for ``user``."""
    rankings = dict(
        Ranking.objects.filter(
            task__project=project, task__is_gold=True, labeler=user, is_current=True
        ).values_list("pk", "task_id")
    )
    if not rankings:
        return None, 0
    position = {
        (task_id, response_id): pos
        for task_id, response_id, pos in TaskResponse.objects.filter(
            task_id__in=set(rankings.values())
        ).values_list("task_id", "response_id", "position")
    }
    ranks = {pk: [None] * stats.MAX_K for pk in rankings}
    for ranking_id, response_id, rank in RankingItem.objects.filter(
        ranking_id__in=list(rankings)
    ).values_list("ranking_id", "response_id", "rank"):
        ranks[ranking_id][position[(rankings[ranking_id], response_id)]] = rank
    gold = dict(
        RankingTask.objects.filter(pk__in=set(rankings.values())).values_list("pk", "gold_ranks")
    )
    rs = stats.RankingSet.from_lists(
        tasks=list(range(len(rankings))),
        labelers=[0] * len(rankings),
        ranks=[ranks[pk] for pk in rankings],
        gold=[gold[task_id] for task_id in rankings.values()],
    )
    value = stats.labeler_gold_agreement(rs, 1)[0]
    return (None if np.isnan(value) else float(value)), len(rankings)


def demonstration_results(project: Project, user) -> tuple[float | None, int]:
    """(share accepted, demonstrations reviewed) of the user's demonstrations."""
    reviewed = Demonstration.objects.filter(prompt__project=project, author=user).exclude(
        status=Demonstration.Status.PENDING
    )
    total = reviewed.count()
    if not total:
        return None, 0
    accepted = reviewed.filter(status=Demonstration.Status.ACCEPTED).count()
    return accepted / total, total


def results(project: Project, user) -> dict:
    gold_agreement, gold_tasks = gold_results(project, user)
    acceptance, reviewed = demonstration_results(project, user)
    bar = project.screening_threshold
    gold_ok = (
        gold_tasks >= project.screening_min_tasks
        and gold_agreement is not None
        and gold_agreement >= bar
    )
    demos_ok = project.screening_min_demonstrations == 0 or (
        reviewed >= project.screening_min_demonstrations and (acceptance or 0) >= bar
    )
    return {
        "gold_agreement": gold_agreement,
        "gold_tasks": gold_tasks,
        "demonstration_acceptance": acceptance,
        "demonstrations_reviewed": reviewed,
        "meets_threshold": gold_ok and demos_ok,
    }


def latest_decision(project: Project, user) -> Qualification | None:
    return (
        Qualification.objects.filter(project=project, user=user)
        .order_by("-decided_at", "-pk")
        .first()
    )


def is_qualified(project: Project, user) -> bool:
    """May ``user`` get ordinary tasks in ``project``? (see the module docstring)"""
    if not project.requires_screening:
        return True
    if roles.has_role(user, project, "reviewer"):
        return True
    decision = latest_decision(project, user)
    if decision is not None:
        return decision.decision == Qualification.Decision.APPROVED
    return results(project, user)["meets_threshold"]


def decide(project: Project, user, decision: str, decided_by, note: str = "") -> Qualification:
    """Record an approve/revoke decision with the candidate's results at that moment."""
    if decision not in Qualification.Decision.values:
        choices = ", ".join(Qualification.Decision.values)
        raise ScreeningError("decision", f"must be one of {choices}")
    if not roles.has_role(decided_by, project, "reviewer"):
        raise ScreeningError("decided_by", "only reviewers and admins of the project decide")
    if not Membership.objects.filter(project=project, user=user).exists():
        raise ScreeningError("user", "not a member of this project")
    if not isinstance(note, str) or has_nul(note):
        raise ScreeningError("note", "must be text without NUL characters")
    now = results(project, user)
    with transaction.atomic():
        return Qualification.objects.create(
            project=project,
            user=user,
            decision=decision,
            decided_by=decided_by,
            note=note.strip(),
            gold_agreement=now["gold_agreement"],
            gold_tasks=now["gold_tasks"],
            demonstration_acceptance=now["demonstration_acceptance"],
        )


def candidates(project: Project) -> list[dict]:
    """Every labeler of the project with their results, decision and qualification."""
    rows = []
    memberships = Membership.objects.filter(
        project=project, role=Membership.Role.LABELER
    ).select_related("user")
    for membership in memberships.order_by("user__username"):
        user = membership.user
        decision = latest_decision(project, user)
        result = results(project, user)
        if decision is not None:
            qualified = decision.decision == Qualification.Decision.APPROVED
        else:
            qualified = result["meets_threshold"] or not project.requires_screening
        rows.append({"user": user, "decision": decision, "qualified": qualified, **result})
    return rows
