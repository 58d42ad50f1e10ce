"""Simulated labelers with controllable noise, for demos, tests and benchmarks.

Every response gets a latent quality q ~ N(0, 1). A labeler with noise s ranks the
responses of a task by q + N(0, s): s = 0 reproduces the true order, larger s disagrees
more, and a *spammer* ranks at random. Close calls become ties with ``tie_prob``. The Likert
rating is the rounded noisy quality on the project's scale; a response "has" each flag with a
probability that grows as its quality falls, and a labeler reports a flag the response has
with probability 1 - noise/4 (and a flag it has not with probability noise/200).

Rows are written with ``bulk_create`` (100,000 rankings in well under a minute) and spread
over the past ``days`` so the dashboard's time series have a shape.
"""

import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from labeling import roles
from labeling.intake import dedup, splits
from labeling.intake.prompts import DuplicatePrompt, PromptCapped
from labeling.intake.ranking_tasks import TaskError
from labeling.models import (
    Assignment,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)
from labeling.projects import MAX_OVERLAP

CATEGORIES = [c for c in Prompt.Category.values if c != "other"]
TOPICS = ["tea", "rivers", "bicycles", "volcanoes", "sourdough", "chess", "owls", "tides"]


@dataclass
class SimulationConfig:
    labelers: int = 6
    tasks: int = 60
    overlap: int = 3
    k_min: int = 4
    k_max: int = 7
    noise: float = 0.5  # the median labeler's noise; the others spread around it
    spammers: int = 0  # extra labelers who rank at random
    tie_prob: float = 0.1
    skip_prob: float = 0.05
    gold_share: float = 0.1
    days: int = 14
    seed: int = 0
    prefix: str = "sim"
    noise_levels: list = field(default_factory=list)  # explicit per-labeler noise, overrides

    def levels(self) -> list[float]:
        if self.noise_levels:
            return [float(x) for x in self.noise_levels]
        if self.labelers == 1:
            return [self.noise]
        # From half to twice the median noise, so labelers differ visibly.
        return [self.noise * (0.5 + 1.5 * i / (self.labelers - 1)) for i in range(self.labelers)]


@contextlib.contextmanager
def _keep_timestamps():
    """bulk_create with our own submitted_at/created_at (auto_now_add would overwrite them)."""
    fields = [Ranking._meta.get_field("submitted_at"), RankingTask._meta.get_field("created_at")]
    saved = [f.auto_now_add for f in fields]
    try:
        for f in fields:
            f.auto_now_add = False
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


def labeler_ranks(quality, noise, rng, *, tie_prob, spammer=False) -> list[int]:
    """Competition ranks (1 = best) of one labeler's view of ``quality``."""
    k = len(quality)
    seen = rng.normal(0, 1, k) if spammer else quality + rng.normal(0, noise, k)
    order = np.argsort(-seen)
    ranks = np.empty(k, dtype=int)
    ranks[order[0]] = 1
    for place in range(1, k):
        here, before = order[place], order[place - 1]
        if abs(seen[here] - seen[before]) < 0.3 and rng.random() < tie_prob:
            ranks[here] = ranks[before]  # a close call judged a tie
        else:
            ranks[here] = place + 1
    if len(set(ranks.tolist())) < 2:  # everything tied compares nothing: untie the last
        ranks[order[-1]] = k
    return ranks.tolist()


def _users(project, config):
    user_model = get_user_model()
    users = []
    total = config.labelers + config.spammers
    for i in range(total):
        name = f"{config.prefix}-labeler-{i + 1}"
        user, created = user_model.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        roles.grant(user, project, "labeler")
        users.append(user)
    return users


def _check_prompts(project, prompts) -> None:
    """What PromptBook would refuse, for the whole batch: a prompt the project has (the same
    --prefix and --seed again), an author past the per-user cap."""
    keys = [prompt.dedup_key for prompt in prompts]
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        if Prompt.objects.filter(project=project, dedup_key__in=chunk).exists():
            raise DuplicatePrompt(
                "seed", "the project has this simulation's prompts: change --seed or --prefix"
            )
    new = Counter(prompt.source_user for prompt in prompts)
    held = Counter(
        Prompt.objects.filter(project=project, source_user__in=list(new)).values_list(
            "source_user", flat=True
        )
    )
    over = sorted(user for user in new if held[user] + new[user] > project.prompt_cap_per_user)
    if over:
        raise PromptCapped(
            "prefix",
            f"{over[0]} would pass the per-user cap of {project.prompt_cap_per_user} prompts: "
            "change --prefix",
        )


def simulate(project: Project, config: SimulationConfig) -> dict:
    """Create labelers, tasks and their rankings in ``project``; returns counts.

    Rows are bulk-written, not passed through the services one by one, so the rules the
    services would check on them are checked here once for the whole campaign."""
    if not project.k_min <= config.k_min <= config.k_max <= project.k_max:
        allowed = f"{project.k_min}..{project.k_max}"
        raise TaskError("k", f"{config.k_min}..{config.k_max} is outside the project's {allowed}")
    if not 1 <= config.overlap <= MAX_OVERLAP:
        raise TaskError("overlap", f"must be from 1 to {MAX_OVERLAP}")
    rng = np.random.default_rng(config.seed)
    pick = random.Random(config.seed)
    levels = config.levels() + [0.0] * config.spammers
    spammer = [False] * config.labelers + [True] * config.spammers
    flags = list(project.flags or [])
    now = timezone.now()
    with transaction.atomic():
        users = _users(project, config)
        overlap = min(config.overlap, len(users))
        # 23 authors, or enough of them to keep each under the per-user cap
        authors = max(23, -(-config.tasks // project.prompt_cap_per_user))
        prompts, qualities = [], []
        for t in range(config.tasks):
            topic = TOPICS[t % len(TOPICS)]
            text = f"[{config.prefix} {config.seed}-{t}] Tell me something useful about {topic}."
            source = f"{config.prefix}-author-{t % authors}"
            prompts.append(
                Prompt(
                    project=project,
                    text=text,
                    source_user=source,
                    category=CATEGORIES[t % len(CATEGORIES)],
                    split=splits.split_for_user(source, project.split_fractions),
                    dedup_key=dedup.dedup_key(text, project.dedup_prefix_chars),
                )
            )
        _check_prompts(project, prompts)
        Prompt.objects.bulk_create(prompts)
        responses = []
        for t, prompt in enumerate(prompts):
            k = int(rng.integers(config.k_min, config.k_max + 1))
            quality = rng.normal(0, 1, k)
            qualities.append(quality)
            for i in range(k):
                body = f"Answer {i + 1} about {TOPICS[t % len(TOPICS)]} (simulated)."
                responses.append(
                    Response(prompt=prompt, text=body, text_hash=dedup.text_hash(body))
                )
        Response.objects.bulk_create(responses)
        by_prompt = {}
        for response in responses:
            by_prompt.setdefault(response.prompt_id, []).append(response)

        tasks, gold_count = [], 0
        for t, prompt in enumerate(prompts):
            quality = qualities[t]
            is_gold = rng.random() < config.gold_share
            gold_count += is_gold
            true_ranks = (np.argsort(np.argsort(-quality)) + 1).tolist()
            tasks.append(
                RankingTask(
                    project=project,
                    prompt=prompt,
                    k=len(quality),
                    overlap=overlap,
                    is_gold=bool(is_gold),
                    gold_ranks=true_ranks if is_gold else None,
                    created_at=now - timedelta(days=config.days),
                )
            )
        with _keep_timestamps():
            RankingTask.objects.bulk_create(tasks)
        TaskResponse.objects.bulk_create(
            TaskResponse(task=task, response=r, position=i)
            for task, prompt in zip(tasks, prompts, strict=True)
            for i, r in enumerate(by_prompt[prompt.pk])
        )

        assignments, rankings, judgements = [], [], []
        for t, task in enumerate(tasks):
            quality = qualities[t]
            for u in pick.sample(range(len(users)), overlap):
                user, noise = users[u], levels[u]
                when = now - timedelta(seconds=float(rng.uniform(0, config.days * 86400)))
                skipped = rng.random() < config.skip_prob
                assignments.append(
                    Assignment(
                        task=task,
                        labeler=user,
                        status="skipped" if skipped else "submitted",
                        skip_reason="simulated skip" if skipped else "",
                        leased_at=when - timedelta(minutes=5),
                        expires_at=when + timedelta(minutes=25),
                        finished_at=when,
                    )
                )
                if skipped:
                    continue
                ranks = labeler_ranks(
                    quality, noise, rng, tie_prob=config.tie_prob, spammer=spammer[u]
                )
                seconds = float(rng.lognormal(np.log(40 + 30 * len(quality)), 0.4))
                rankings.append(
                    Ranking(
                        task=task,
                        labeler=user,
                        seconds_spent=round(seconds, 1),
                        submitted_at=when,
                    )
                )
                judgements.append((len(assignments) - 1, task, ranks, quality, noise))
        Assignment.objects.bulk_create(assignments, batch_size=5000)
        for ranking, (a, *_rest) in zip(rankings, judgements, strict=True):
            ranking.assignment = assignments[a]
        with _keep_timestamps():
            Ranking.objects.bulk_create(rankings, batch_size=5000)

        items = []
        for ranking, (_a, task, ranks, quality, noise) in zip(rankings, judgements, strict=True):
            k = len(quality)
            likert = np.clip(np.rint(4 + 1.5 * quality + rng.normal(0, noise, k)), 1, 7)
            likert = np.minimum(likert, project.likert_max).astype(int)
            # Which flags each response has (worse responses more often), and which the
            # labeler reports: (k, n_flags) booleans.
            has = rng.random((k, len(flags))) < (0.06 / (1 + np.exp(2 * quality)))[:, None]
            report_p = np.where(has, max(0.0, 1 - noise / 4), min(1.0, noise / 200))
            reported = rng.random((k, len(flags))) < report_p
            for i, response in enumerate(by_prompt[task.prompt_id]):
                items.append(
                    RankingItem(
                        ranking=ranking,
                        response=response,
                        rank=ranks[i],
                        likert=int(likert[i]),
                        flags=[f for f, on in zip(flags, reported[i], strict=True) if on],
                    )
                )
        RankingItem.objects.bulk_create(items, batch_size=10000)
    return {
        "labelers": len(users),
        "tasks": len(tasks),
        "gold_tasks": int(gold_count),
        "rankings": len(rankings),
        "skips": len(assignments) - len(rankings),
    }


# --- simulated labelers for generated tasks (pipelines) ------------------------------------

# The preference the pipeline's simulated labelers hold, stated where it is used (the
# ``run_pipeline`` help) and learnable by a reward model: a response is better the more often
# it says the marker word; equal counts tie; when every response says it equally often the
# shorter one is preferred (a labeler must compare something). It is the rule of the engine's
# synthetic data (``training/engine/synthetic.py``), which a tiny model learns in a few dozen
# steps, so a pipeline's reward model can be checked for having learned it.
PREFERENCE_MARKER = "great"
PREFERENCE_RULE = (
    f"prefers the response that uses the word '{PREFERENCE_MARKER}' more often "
    "(equal counts tie; if all are equal, the shorter response wins)"
)


def marker_count(text: str) -> int:
    words = [word.strip(".,;:!?\"'()").lower() for word in text.split()]
    return words.count(PREFERENCE_MARKER)


def _competition_ranks(keys: list) -> list[int]:
    """1 = the largest key; equal keys share a rank (1, 2, 2, 4)."""
    return [1 + sum(other > key for other in keys) for key in keys]


def preference_ranks(
    texts: list[str], *, allow_ties: bool = True, flip_prob: float = 0.0, rng=None
):
    """A simulated labeler's ranks of ``texts`` under PREFERENCE_RULE; with ``flip_prob`` two
    neighbouring responses are swapped (a careless labeler), so noise can be dialled in."""
    keys = [marker_count(text) for text in texts]
    if len(set(keys)) < 2:
        keys = [-len(text) for text in texts]
    if not allow_ties or len(set(keys)) < 2:
        # break the remaining ties by position: a strict order that keeps the rule's
        keys = [(key, -i) for i, key in enumerate(keys)]
    ranks = _competition_ranks(keys)
    if flip_prob and rng is not None and rng.random() < flip_prob:
        order = sorted(range(len(ranks)), key=lambda i: ranks[i])
        a = int(rng.integers(0, len(order) - 1))
        i, j = order[a], order[a + 1]
        ranks[i], ranks[j] = ranks[j], ranks[i]
    return ranks


def rank_tasks(
    project: Project,
    tasks,
    *,
    labelers: int = 3,
    prefix: str = "pipeline-sim",
    flip_prob: float = 0.0,
    seed: int = 0,
) -> int:
    """Simulated labelers fill the open slots of ``tasks`` with rankings under
    PREFERENCE_RULE; returns how many rankings were written.

    Each ranking goes the way a labeler's would: a submitted assignment holds the slot
    (``n_held`` counted, so the queue never serves a full task to a person) and the ranking
    is written by ``record_ranking``. Slots that people hold are left to them.
    """
    from labeling.assignment import sql
    from labeling.assignment.rankings import ItemInput, record_ranking

    users = _users(project, SimulationConfig(labelers=labelers, prefix=prefix))
    rng = np.random.default_rng(seed)
    written = 0
    for task in tasks:
        with transaction.atomic():
            task = RankingTask.objects.select_for_update().get(pk=task.pk)
            now = timezone.now()
            _held, occupied = sql.count_slots(task.pk, now)
            # a ranking written without an assignment (an import, a correction path) fills
            # a slot of the task's overlap all the same
            ranked = Ranking.objects.filter(task=task, is_current=True).count()
            occupied = max(occupied, ranked)
            taken = set(Assignment.objects.filter(task=task).values_list("labeler_id", flat=True))
            free = [user for user in users if user.pk not in taken]
            texts = [
                tr.response.text
                for tr in TaskResponse.objects.filter(task=task)
                .select_related("response")
                .order_by("position")
            ]
            for user in free[: max(task.overlap - occupied, 0)]:
                ranks = preference_ranks(
                    texts, allow_ties=project.allow_ties, flip_prob=flip_prob, rng=rng
                )
                assignment = Assignment.objects.create(
                    task=task,
                    labeler=user,
                    status="submitted",
                    leased_at=now,
                    expires_at=now + timedelta(minutes=project.lease_minutes),
                    finished_at=now,
                )
                sql.add_held(task.pk, 1)
                record_ranking(
                    task, user, [ItemInput(rank=r) for r in ranks], assignment=assignment
                )
                written += 1
    return written
