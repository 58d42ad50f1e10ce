"""The evaluation report: one document for the command, the API and the page.

    {"baseline": NAME, "judge": "human" | "rm:ID", "n_judgments": N,
     "models": {NAME: {"win_rate", "ci", "tie_rate", "n", "bt", "bt_ci", "likert", "flags"}},
     "categories": {CATEGORY: {NAME: {"likert", "flags", "n"}}},
     "agreement": {...}}            # with an RM judge: how often it agrees with the humans

Win rates and Bradley–Terry strengths are ``statistics.report``'s; Likert and flag rates are
the labelers' ratings of each model's answers, overall and per prompt category, as in the
InstructGPT paper's metadata figures.
"""

from collections import Counter, defaultdict

from . import judgments as sources
from . import statistics
from .campaigns import EvaluationError
from .models import Campaign


def _rating_summary(rows) -> dict:
    """{"likert": mean or None, "flags": {flag: share of rated answers}, "n": answers}."""
    likert = [likert for likert in (row[2] for row in rows) if likert is not None]
    flags = Counter(flag for row in rows for flag in set(row[3]))
    return {
        "likert": sum(likert) / len(likert) if likert else None,
        "flags": {flag: count / len(rows) for flag, count in sorted(flags.items())},
        "n": len(rows),
    }


def _ratings(campaign: Campaign) -> tuple[dict, dict]:
    by_model, by_category = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for row in sources.ratings(campaign):
        by_model[row[0]].append(row)
        by_category[row[1]][row[0]].append(row)
    models = {name: _rating_summary(rows) for name, rows in by_model.items()}
    categories = {
        category: {name: _rating_summary(rows) for name, rows in sorted(names.items())}
        for category, names in sorted(by_category.items())
    }
    return models, categories


def campaign_judgments(campaign: Campaign, judge: str = "human") -> list:
    """``human``: the labelers' rankings and the imported judgments; ``rm:ID``: the reward
    model's, from the scores kept on the entries."""
    if judge == "human":
        return sources.human_judgments(campaign) + sources.outside_judgments(campaign)
    kind, _, checkpoint_id = judge.partition(":")
    if kind != "rm" or not checkpoint_id.isdigit():
        raise EvaluationError("judge", f"{judge!r}: expected human or rm:ID")
    return sources.rm_judgments(campaign, int(checkpoint_id))


def build_report(
    campaign: Campaign,
    baseline: str | None = None,
    *,
    judge: str = "human",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    names = list(campaign.contestants.values_list("name", flat=True))
    baseline = baseline or (names[0] if names else "")
    if baseline not in names:
        raise EvaluationError(
            "baseline", f"{baseline!r} is not a contestant of {campaign.name}: {', '.join(names)}"
        )
    judged = campaign_judgments(campaign, judge)
    document = statistics.report(judged, baseline, n_boot=n_boot, seed=seed)
    models, categories = _ratings(campaign)
    for name in names:
        entry = document["models"].setdefault(name, {"n": 0})
        rating = models.get(name, {"likert": None, "flags": {}})
        entry["likert"], entry["flags"] = rating["likert"], rating["flags"]
    document["judge"] = judge
    document["campaign"] = campaign.name
    document["n_judgments"] = len(judged)
    document["categories"] = categories
    if judge != "human":
        humans = sources.human_judgments(campaign) + sources.outside_judgments(campaign)
        document["agreement"] = statistics.agreement(humans, judged)
    return statistics.jsonable(document)
