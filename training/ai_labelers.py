"""AI labelers (RLAIF): a judge model ranks a project's open tasks under an account of its own.

An AI labeler is a user ``ai-<name>`` with the labeler role, an unusable password (it never
logs in) and ``Membership.is_ai`` set. It works exactly as a person does: it asks the
assignment engine for its next task and submits through ``engine.submit_ranking``, so the
task's overlap, leases, the one-assignment-per-labeler rule and idempotent submits hold for it
as for anyone, and a second run finds nothing left to do. The marker is what sets its rankings
apart afterwards: the agreement table shows it beside the people with an AI badge, and the
comparison and ranking exports leave its rankings out unless ``include_ai`` is asked for.

Judges (``parse_judge``):

- ``rm:ID``: a reward model checkpoint; a response's score is its reward.
- ``checkpoint:ID``: a causal LM checkpoint (base, SFT or policy) prompted with the project's
  principles (``Project.principles``, empty: ``DEFAULT_PRINCIPLES``; or a file's given to
  ``ai_label``); a response's score is log p("Yes") − log p("No") that it follows them
  (``training.engine.ai_judge``).

Scores become ranks, 1 = best; exactly equal scores share a rank only where the project
allows ties, otherwise the response shown earlier in the task's order wins.

What it does not judge: evaluation tasks (people comparing policies, ``source="evaluation"``)
are skipped with a reason, so the AI never holds their slots again. Gold tasks are ranked:
they give the AI labeler a gold agreement figure like anyone's. In a project that requires
screening it is screened like anyone (it gets the qualification set until it passes).
The throttle for people (``min_seconds_per_task``) does not hold a judge back: its ranking is
submitted as of the earliest moment the project allows.
"""

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from labeling import roles
from labeling.assignment import engine, sql
from labeling.assignment.rankings import ItemInput
from labeling.errors import ServiceError
from labeling.models import DEFAULT_PRINCIPLES, Membership, Project, RankingTask
from labeling.projects import clean_settings
from training.models import Checkpoint

PREFIX = "ai-"
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,60}")
JUDGE_KINDS = {"rm": ("rm",), "checkpoint": ("base", "sft", "policy")}
EVALUATION_SKIP = "AI labelers do not judge evaluations of policies: they stay with people"


class AiLabelError(ServiceError):
    """A refused AI labeler run; ``field`` names what to fix."""


@dataclass(frozen=True)
class Judge:
    kind: str  # "rm" or "checkpoint"
    checkpoint: Checkpoint

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.checkpoint.pk}"


def parse_judge(spec: str, field: str = "judge") -> Judge:
    """``rm:ID`` (a reward model) or ``checkpoint:ID`` (a base, SFT or policy checkpoint)."""
    kind, _, ident = str(spec).partition(":")
    if kind not in JUDGE_KINDS or not ident.isdigit():
        raise AiLabelError(field, f"{spec!r} is not rm:ID or checkpoint:ID")
    checkpoint = Checkpoint.objects.filter(pk=int(ident)).first()
    if checkpoint is None:
        raise AiLabelError(field, f"no checkpoint {ident}")
    if checkpoint.kind not in JUDGE_KINDS[kind]:
        wanted = " or ".join(JUDGE_KINDS[kind])
        raise AiLabelError(field, f"checkpoint {ident} is a {checkpoint.kind}, not {wanted}")
    if checkpoint.kind != "base" and not Path(checkpoint.path).is_dir():
        raise AiLabelError(field, f"checkpoint {ident}'s folder {checkpoint.path} is missing")
    return Judge(kind, checkpoint)


def clean_name(name: str) -> str:
    """The part after ``ai-``: lowercase letters, digits, ``_ . -``."""
    name = str(name).lower().replace(":", "-")
    if name.startswith(PREFIX):
        name = name[len(PREFIX) :]
    if not NAME.fullmatch(name):
        raise AiLabelError(
            "name", f"{name!r}: lowercase letters, digits, _ . - (at most 61, starting a word)"
        )
    return name


def ai_account(project: Project, name: str):
    """The AI labeler's user, a labeler of ``project`` marked ``is_ai`` (created when new)."""
    username = PREFIX + clean_name(name)
    with transaction.atomic():
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()  # an AI labeler never logs in
            user.save(update_fields=["password"])
        elif user.has_usable_password() or user.is_staff:
            raise AiLabelError("name", f"{username} is a person's account")
        membership = Membership.objects.filter(project=project, user=user).first()
        if membership is None or membership.role != "labeler":
            roles.grant(user, project, "labeler")
        Membership.objects.filter(project=project, user=user).update(is_ai=True)
    return user


def ranks_from_scores(scores: list[float], *, allow_ties: bool) -> list[int]:
    """Competition ranks, 1 = the highest score; exact ties only when allowed (and never all
    tied: a ranking must compare something), else the earlier position wins."""
    keys = list(scores)
    if not allow_ties or len(set(keys)) < 2:
        keys = [(score, -i) for i, score in enumerate(scores)]
    return [1 + sum(other > key for other in keys) for key in keys]


def load_scorer(judge: Judge, principles: str):
    """A function (prompt, response texts) → scores, its model loaded once."""
    from training.engine import ai_judge

    if judge.kind == "rm":
        model = ai_judge.RewardJudge(judge.checkpoint.path)
        return lambda prompt, texts: model.scores([prompt] * len(texts), texts)
    model = ai_judge.PrincipleJudge(judge.checkpoint.path)
    return lambda prompt, texts: model.scores(principles, [prompt] * len(texts), texts)


def ai_label(
    project: Project,
    judge_spec: str,
    name: str | None = None,
    principles: str | None = None,
    limit: int | None = None,
) -> dict:
    """The AI labeler ranks open tasks until none is left for it, or ``limit`` are ranked.

    Returns {"labeler", "judge", "ranked", "skipped"}. The judge's model is loaded only when
    there is a task to rank, so a run with nothing to do is cheap (the pipeline's rank stage
    asks every time it looks)."""
    judge = parse_judge(judge_spec)
    principles = project.principles if principles is None else principles
    principles = clean_settings({"principles": principles})["principles"]
    principles = principles.strip() or DEFAULT_PRINCIPLES
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AiLabelError("limit", "must be a whole number of at least 1")
    user = ai_account(project, name or judge.spec)
    scorer = None
    ranked = skipped = 0
    while limit is None or ranked < limit:
        lease = engine.next_assignment(project, user)
        if lease is None:
            break
        task = sql.task_record(lease.task_id)
        if task.source == RankingTask.Source.EVALUATION:
            engine.skip_assignment(lease, user, EVALUATION_SKIP)
            skipped += 1
            continue
        if scorer is None:
            scorer = load_scorer(judge, principles)
        prompt = task.prompt.messages or task.prompt.text
        scores = scorer(prompt, [response.text for response in task.responses])
        ranks = ranks_from_scores(scores, allow_ties=project.allow_ties)
        earliest = lease.leased_at + timedelta(seconds=project.min_seconds_per_task)
        engine.submit_ranking(
            lease,
            user,
            [ItemInput(rank=rank) for rank in ranks],
            comment=f"AI judge {judge.spec}",
            submission_key=f"ai-lease-{lease.id}",  # a retried run finds it recorded
            require_likert=False,
            now=max(timezone.now(), earliest),
        )
        ranked += 1
    return {"labeler": user.username, "judge": judge.spec, "ranked": ranked, "skipped": skipped}
