"""A campaign's judgments, from wherever they come: its labelers' rankings, imported arena
rows, or a reward model judging the same answers. Each comes out as the statistics module's
pairwise ``Judgment`` (prompt, model_a, model_b, winner), so one report serves them all.

A ranking of M answers is C(M, 2) judgments. Two contestants that wrote the same answer
share a response: every ranking of it says "tie" for that pair, and when nobody could be
asked (the pair's only task was skipped) one tie per prompt stands for it.
"""

from collections import defaultdict
from itertools import combinations

from labeling.models import Prompt, Ranking, RankingItem

from .models import Campaign, Entry, OutsideJudgment
from .statistics import Judgment


def _answers(campaign: Campaign) -> dict[int, dict[int, list[str]]]:
    """prompt → response → the contestants that wrote it."""
    answers: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for prompt_id, response_id, name in Entry.objects.filter(
        contestant__campaign=campaign
    ).values_list("prompt_id", "response_id", "contestant__name"):
        answers[prompt_id][response_id].append(name)
    return answers


def _categories(prompt_ids) -> dict[int, str]:
    return dict(Prompt.objects.filter(pk__in=list(prompt_ids)).values_list("id", "category"))


def _current_rankings(campaign: Campaign):
    return Ranking.objects.filter(task__evaluation__campaign=campaign, is_current=True)


def human_judgments(campaign: Campaign) -> list[Judgment]:
    """Every current ranking of the campaign's tasks, as pairwise judgments, and a tie for
    each pair of contestants that gave one prompt the same answer."""
    answers = _answers(campaign)
    categories = _categories(answers)
    items = defaultdict(list)  # ranking → [(response, rank)]
    meta = {}
    for ranking_id, prompt_id, labeler, response_id, rank in (
        RankingItem.objects.filter(ranking__in=_current_rankings(campaign))
        .order_by("ranking_id", "id")
        .values_list(
            "ranking_id",
            "ranking__task__prompt_id",
            "ranking__labeler__username",
            "response_id",
            "rank",
        )
    ):
        items[ranking_id].append((response_id, rank))
        meta[ranking_id] = (prompt_id, labeler)
    judgments = []
    for ranking_id, ranked in items.items():
        prompt_id, labeler = meta[ranking_id]
        writers = answers[prompt_id]
        for (first, rank_1), (second, rank_2) in combinations(ranked, 2):
            winner = "tie" if rank_1 == rank_2 else ("model_a" if rank_1 < rank_2 else "model_b")
            for a in writers.get(first, []):
                for b in writers.get(second, []):
                    judgments.append(
                        Judgment(prompt_id, a, b, winner, labeler, categories.get(prompt_id))
                    )
    for prompt_id, writers in answers.items():
        for names in writers.values():
            for a, b in combinations(names, 2):
                judgments.append(Judgment(prompt_id, a, b, "tie", "", categories.get(prompt_id)))
    return judgments


def outside_judgments(campaign: Campaign) -> list[Judgment]:
    rows = OutsideJudgment.objects.filter(campaign=campaign).values_list(
        "prompt_id", "model_a__name", "model_b__name", "winner", "labeler", "prompt__category"
    )
    return [Judgment(*row) for row in rows]


def rm_judgments(campaign: Campaign, checkpoint_id: int) -> list[Judgment]:
    """The reward model as a judge: on each prompt, the contestant whose answer it scores
    higher wins (equal scores tie). Needs the scores (``scoring.score_entries``)."""
    key = str(checkpoint_id)
    by_prompt = defaultdict(list)
    for prompt_id, name, scores in Entry.objects.filter(contestant__campaign=campaign).values_list(
        "prompt_id", "contestant__name", "scores"
    ):
        if key in scores:
            by_prompt[prompt_id].append((name, scores[key]))
    categories = _categories(by_prompt)
    judgments = []
    for prompt_id, scored in by_prompt.items():
        for (a, score_a), (b, score_b) in combinations(scored, 2):
            winner = (
                "tie" if score_a == score_b else ("model_a" if score_a > score_b else "model_b")
            )
            judgments.append(Judgment(prompt_id, a, b, winner, f"rm:{key}", categories[prompt_id]))
    return judgments


def ratings(campaign: Campaign) -> list[tuple[str, str, int | None, list[str]]]:
    """(contestant, prompt category, Likert, flags) of every answer in a current ranking."""
    answers = _answers(campaign)
    categories = _categories(answers)
    rows = []
    for prompt_id, response_id, likert, flags in RankingItem.objects.filter(
        ranking__in=_current_rankings(campaign)
    ).values_list("ranking__task__prompt_id", "response_id", "likert", "flags"):
        for name in answers[prompt_id].get(response_id, []):
            rows.append((name, categories.get(prompt_id, ""), likert, flags or []))
    return rows
