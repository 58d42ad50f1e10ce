"""Simulated labelers who have already worked on the demo campaign, so that a fresh demo shows
agreement numbers and charts instead of dashes.

Three accounts (``sim-ana``, ``sim-ben``, ``sim-cy``: unusable passwords, no staff flags,
"simulated" in their names on the dashboard) take tasks from the assignment engine and submit
through ``engine.submit_ranking``, exactly as the web page and the API do, until
``SIMULATED_TASKS`` tasks have their full overlap of simulated rankings. The engine serves the
fullest task first, so the labelers taking turns pair up on each task, and every pair of them
shares some tasks (the dashboard's agreement matrix has no empty cell). The other tasks are
left to the demo's people (``labeler``, ``labeler2``).

The rankings are plausible, not random: each response's hidden quality comes from the demo
content (the kind of system its text imitates, and a documented ``issue`` counts against it),
and each labeler sees it through their own noise (``simulation.labeler_ranks``). Submissions
are dated over the past ``DAYS`` days so the time series have a shape (the engine takes the
lease and submit times; the ranking's own timestamp is set to the same afterwards).

Idempotent: the labelers only submit the rankings still missing from the target.
"""

import hashlib
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling import roles
from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.demo import content
from labeling.demo.simulation import labeler_ranks
from labeling.models import Project, Ranking, TaskResponse
from labeling.quality import agreement

# (username, noise): from a careful labeler to a hasty one, so their agreement differs
SIMULATED_LABELERS = (("sim-ana", 0.35), ("sim-ben", 0.7), ("sim-cy", 1.1))
SIMULATED_TASKS = 18  # of the demo's 42: most tasks stay fresh for the people
DAYS = 9
SEED = 17

# How good the text of each simulated system is meant to be (content.py's model names).
MODEL_QUALITY = {
    content.PTX: 1.0,
    content.PPO: 0.7,
    content.HUMAN: 0.3,
    content.SFT: 0.0,
    content.GPT3: -0.6,
}
ISSUE_PENALTY = 1.5
# An issue's wording → the flag a careful labeler would tick for it.
ISSUE_FLAGS = (
    ("hallucinat", "hallucination"),
    ("wrong", "hallucination"),
    ("harmful", "harmful_advice"),
    ("preachy", "expresses_moral_judgment"),
)


def _issue_flag(issue: str) -> str:
    lowered = issue.lower()
    for word, flag in ISSUE_FLAGS:
        if word in lowered:
            return flag
    return "fails_to_follow_instruction"


def _hints() -> dict:
    """(prompt external id, response text) → (quality, flag or None), from the content."""
    hints = {}
    for entry in content.PROMPTS:
        for response in entry["responses"]:
            quality = MODEL_QUALITY.get(response["model"], 0.0)
            issue = response.get("issue")
            if issue:
                quality -= ISSUE_PENALTY
            flag = _issue_flag(issue) if issue else None
            hints[(entry["id"], response["text"])] = (quality, flag)
    return hints


def simulated_labelers(project: Project) -> list:
    users = []
    for username, _noise in SIMULATED_LABELERS:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": "Simulated", "last_name": "labeler"}
        )
        if created:
            user.set_unusable_password()  # a simulated labeler never logs in
            user.save(update_fields=["password"])
        roles.grant(user, project, "labeler")
        users.append(user)
    return users


def _items(task_id: int, project: Project, hints: dict, noise: float, rng) -> list[ItemInput]:
    rows = list(
        TaskResponse.objects.filter(task_id=task_id)
        .select_related("response", "task__prompt")
        .order_by("position")
    )
    external_id = rows[0].task.prompt.external_id if rows else ""
    found = [hints.get((external_id, row.response.text), (0.0, None)) for row in rows]
    quality = np.array([q for q, _ in found])
    tie_prob = 0.1 if project.allow_ties else 0.0
    ranks = labeler_ranks(quality, noise, rng, tie_prob=tie_prob)
    seen = quality + rng.normal(0, noise, len(quality))
    likert = np.clip(np.rint(4 + 1.5 * seen), 1, project.likert_max).astype(int)
    allowed = set(project.flags or [])
    items = []
    for rank, rating, (_q, flag) in zip(ranks, likert, found, strict=True):
        # a careful labeler spots most issues, a hasty one fewer
        spotted = flag in allowed and rng.random() < 1 - noise / 3
        items.append(ItemInput(rank=int(rank), likert=int(rating), flags=[flag] if spotted else []))
    return items


def simulate_demo_labeling(project: Project, *, tasks: int = SIMULATED_TASKS) -> int:
    """The simulated labelers rank until ``tasks`` tasks have their overlap from them;
    returns how many rankings were submitted now (0 when the target was already met)."""
    users = simulated_labelers(project)
    noise = dict(SIMULATED_LABELERS)
    target = tasks * project.overlap
    done = Ranking.objects.filter(task__project=project, labeler__in=users).count()
    hints = _hints()
    start = timezone.now() - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / max(target, 1)
    submitted = 0
    for turn in range(done, target):
        user = users[turn % len(users)]
        # the same ranks for the same turn on any machine, whatever ran before
        seed = int.from_bytes(hashlib.sha256(f"{SEED}:{turn}".encode()).digest()[:4], "big")
        rng = np.random.default_rng(seed)
        leased_at = start + step * turn
        lease = engine.next_assignment(project, user, now=leased_at, rng=rng)
        if lease is None:
            break  # nothing left that this labeler may take
        seconds = float(rng.lognormal(np.log(150), 0.35))
        submitted_at = leased_at + timedelta(seconds=seconds)
        record = engine.submit_ranking(
            lease,
            user,
            _items(lease.task_id, project, hints, noise[user.username], rng),
            seconds_spent=seconds,
            now=submitted_at,
        )
        # The service stamps a ranking with the real clock; this history happened over the
        # past days (the assignment already says when), so the ranking says so too.
        Ranking.objects.filter(pk=record.id).update(submitted_at=submitted_at)
        submitted += 1
    if submitted:
        agreement.bump_version(project.pk)  # the dates changed under the cached statistics
    return submitted
