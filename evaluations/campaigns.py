"""Evaluation campaigns: create one, sample the contestants' answers, put them to labelers.

    create_campaign ──▶ generating ──(every generation job succeeded)──▶ open
                                   └─(a generation job failed)──────────▶ failed

A checkpoint contestant gets one generation job (one answer per prompt, no ranking tasks of
its own); when it succeeds, ``receivers`` records which response is whose (``Entry``) and
calls ``advance``. An imported contestant's answers are the project's responses of that
model name to the campaign's prompts, already there. Opening writes the blind tasks:

- ``pairwise``: one K=2 task per prompt and pair of contestants;
- ``ranking``: one task per prompt over every contestant's answer.

Two contestants with the same text share one response: their pair is a tie, and nobody is
asked (``report`` counts it so). Every status move is a conditional UPDATE, so the receiver,
a page view and the report command may all call ``advance`` at once.
"""

from itertools import combinations

from django.db import transaction

from labeling.errors import ServiceError
from labeling.intake.ranking_tasks import MAX_OVERLAP, create_ranking_task
from labeling.models import MAX_K, Prompt, RankingTask, Response
from labeling.vocabulary import SPLITS
from training import jobs
from training.models import Checkpoint, TrainingJob

from .models import Campaign, CampaignTask, Contestant, Entry

MIN_CONTESTANTS = 2
MAX_CONTESTANTS = MAX_K  # a ranking campaign's task holds every contestant's answer
POLICY_KINDS = ("base", "sft", "policy")


class EvaluationError(ServiceError):
    """A campaign that cannot be created or changed as asked."""


def contestant_specs(values: list[str]) -> list[dict]:
    """``checkpoint:ID`` or ``model:NAME`` (the CLI's and the form's spelling) as specs."""
    specs = []
    for value in values:
        kind, _, rest = value.partition(":")
        if kind == "checkpoint" and rest.isdigit():
            checkpoint = Checkpoint.objects.filter(pk=int(rest)).first()
            if checkpoint is None:
                raise EvaluationError("contestants", f"{value}: no such checkpoint")
            specs.append({"checkpoint": checkpoint})
        elif kind == "model" and rest.strip():
            specs.append({"name": rest.strip()})
        else:
            raise EvaluationError("contestants", f"{value!r}: expected checkpoint:ID or model:NAME")
    return specs


def default_name(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.kind}-{checkpoint.pk}"


def create_campaign(
    project,
    name: str,
    contestants: list[dict],
    *,
    split: str = "test",
    format: str = Campaign.Format.PAIRWISE,
    overlap: int = 1,
    max_prompts: int | None = None,
    generation: dict | None = None,
    user=None,
) -> Campaign:
    """A campaign over the ``split`` prompts (at most ``max_prompts``), with its generation
    jobs queued. ``contestants``: [{"checkpoint": Checkpoint, "name"?}] or [{"name"}] (an
    imported model: its responses must be there). ``generation``: generate-job settings
    (temperature, max_new_tokens, …) shared by every checkpoint contestant."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise EvaluationError("name", "1 to 100 characters")
    if Campaign.objects.filter(project=project, name=name).exists():
        raise EvaluationError("name", f"{project.slug} has a campaign named {name!r} already")
    if format not in Campaign.Format.values:
        raise EvaluationError("format", f"{format!r} is not one of pairwise, ranking")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP:
        raise EvaluationError("overlap", f"must be an integer from 1 to {MAX_OVERLAP}")
    if split not in SPLITS:
        raise EvaluationError("split", f"{split!r} is not one of {', '.join(SPLITS)}")
    if max_prompts is not None and (
        isinstance(max_prompts, bool) or not isinstance(max_prompts, int) or max_prompts < 1
    ):
        raise EvaluationError("max_prompts", "must be a positive integer")
    prompts = Prompt.objects.filter(project=project, split=split).order_by("id")
    prompt_ids = list(prompts.values_list("id", flat=True)[:max_prompts])
    if not prompt_ids:
        raise EvaluationError("split", f"{project.slug} has no {split} prompts")
    named = _named(project, contestants, prompt_ids)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            project=project,
            name=name,
            split=split,
            max_prompts=max_prompts,
            format=format,
            overlap=overlap,
            prompt_ids=prompt_ids,
            created_by=user,
        )
        for contestant_name, checkpoint in named:
            contestant = Contestant.objects.create(
                campaign=campaign, name=contestant_name, checkpoint=checkpoint
            )
            if checkpoint is not None:
                contestant.generation_job = _generation_job(
                    campaign, contestant, generation or {}, user
                )
                contestant.save(update_fields=["generation_job"])
        if not any(checkpoint for _, checkpoint in named):
            transaction.on_commit(lambda: advance(campaign))
    return campaign


def create_from_request(project, data: dict, *, user=None) -> Campaign:
    """``create_campaign`` from what the form, the API and the command take: contestants
    spelled ``checkpoint:ID`` / ``model:NAME``, generation settings in ``generation`` and the
    answer length cap in ``max_new_tokens``."""
    generation = dict(data.get("generation") or {})
    if data.get("max_new_tokens"):
        generation["max_new_tokens"] = data["max_new_tokens"]
    return create_campaign(
        project,
        data.get("name", ""),
        contestant_specs(data.get("contestants") or []),
        split=data.get("split") or "test",
        format=data.get("format") or Campaign.Format.PAIRWISE,
        overlap=1 if data.get("overlap") is None else data["overlap"],
        max_prompts=data.get("max_prompts"),
        generation=generation,
        user=user,
    )


def _named(project, contestants, prompt_ids) -> list[tuple[str, Checkpoint | None]]:
    if not isinstance(contestants, list) or not (
        MIN_CONTESTANTS <= len(contestants) <= MAX_CONTESTANTS
    ):
        raise EvaluationError(
            "contestants", f"from {MIN_CONTESTANTS} to {MAX_CONTESTANTS} contestants"
        )
    named = []
    for i, spec in enumerate(contestants):
        checkpoint = spec.get("checkpoint")
        if checkpoint is not None and checkpoint.kind not in POLICY_KINDS:
            raise EvaluationError(
                f"contestants[{i}]",
                f"checkpoint {checkpoint.pk} is a {checkpoint.kind}, not a policy",
            )
        name = (spec.get("name") or (default_name(checkpoint) if checkpoint else "")).strip()
        if not name or len(name) > 200:
            raise EvaluationError(f"contestants[{i}]", "a name of 1 to 200 characters")
        if (
            checkpoint is None
            and not Response.objects.filter(prompt_id__in=prompt_ids, model_name=name).exists()
        ):
            raise EvaluationError(
                f"contestants[{i}]",
                f"no responses of model {name!r} to the campaign's prompts: import them first "
                "(import_responses with that model name)",
            )
        named.append((name, checkpoint))
    if len({name for name, _ in named}) != len(named):
        raise EvaluationError("contestants", "two contestants have the same name")
    return named


def _generation_job(campaign, contestant, generation: dict, user) -> TrainingJob:
    config = dict(generation) | {
        "k": 1,
        "create_tasks": False,
        "prompt_ids": campaign.prompt_ids,
        "model_name": contestant.name,
    }
    return jobs.create_job(
        campaign.project, "generate", config, base=contestant.checkpoint, user=user
    )


# --- moving on ------------------------------------------------------------------------------


def record_answers(job: TrainingJob, answers: list[tuple[int, int]]) -> None:
    """A generation job's answers become its contestant's entries (one per prompt)."""
    for contestant in Contestant.objects.filter(generation_job=job):
        for prompt_id, response_id in answers:
            Entry.objects.get_or_create(
                contestant=contestant, prompt_id=prompt_id, defaults={"response_id": response_id}
            )


def advance(campaign: Campaign) -> Campaign:
    """generating → open once every contestant has its answers, → failed when a generation
    job failed; anything else is left as it is."""
    campaign.refresh_from_db()
    if campaign.status != Campaign.Status.GENERATING:
        return campaign
    contestants = list(campaign.contestants.select_related("generation_job"))
    failed = [
        c
        for c in contestants
        if c.generation_job
        and c.generation_job.status in (TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED)
    ]
    if failed:
        job = failed[0].generation_job
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.GENERATING).update(
            status=Campaign.Status.FAILED,
            error=f"{failed[0].name}: generation job {job.pk} {job.status}",
        )
    elif all(
        c.generation_job is None or c.generation_job.status == TrainingJob.Status.SUCCEEDED
        for c in contestants
    ):
        with transaction.atomic():
            moved = Campaign.objects.filter(
                pk=campaign.pk, status=Campaign.Status.GENERATING
            ).update(status=Campaign.Status.OPEN)
            if moved:
                _imported_entries(campaign, contestants)
                _open_tasks(campaign, contestants)
    campaign.refresh_from_db()
    return campaign


def _imported_entries(campaign: Campaign, contestants) -> None:
    for contestant in contestants:
        if contestant.checkpoint_id is not None:
            continue
        latest = {}
        for response in Response.objects.filter(
            prompt_id__in=campaign.prompt_ids, model_name=contestant.name
        ).order_by("id"):
            latest[response.prompt_id] = response  # the newest answer of the model wins
        Entry.objects.bulk_create(
            [
                Entry(contestant=contestant, prompt_id=prompt_id, response=response)
                for prompt_id, response in latest.items()
            ],
            ignore_conflicts=True,
        )


def _open_tasks(campaign: Campaign, contestants) -> None:
    answers: dict[int, dict[int, Response]] = {}  # prompt → contestant → response
    for entry in Entry.objects.filter(contestant__campaign=campaign).select_related(
        "response", "prompt"
    ):
        answers.setdefault(entry.prompt_id, {})[entry.contestant_id] = entry.response
    prompts = Prompt.objects.in_bulk(list(answers))
    order = [c.pk for c in contestants]
    for prompt_id, by_contestant in sorted(answers.items()):
        present = [by_contestant[pk] for pk in order if pk in by_contestant]
        if campaign.format == Campaign.Format.PAIRWISE:
            groups = [list(pair) for pair in combinations(present, 2)]
        else:
            groups = [present]
        for group in groups:
            distinct = list({response.pk: response for response in group}.values())
            if len(distinct) < 2:
                continue  # identical answers: a tie, nobody is asked
            task = create_ranking_task(
                campaign.project,
                prompts[prompt_id],
                distinct,
                overlap=campaign.overlap,
                source=RankingTask.Source.EVALUATION,
                enforce_project_k=False,
            )
            CampaignTask.objects.create(campaign=campaign, task=task)


def describe(campaign: Campaign) -> dict:
    """The campaign's state, as the command, the API and the page show it."""
    from django.db.models import Count, Q

    tasks = RankingTask.objects.filter(evaluation__campaign=campaign).annotate(
        current=Count("rankings", filter=Q(rankings__is_current=True))
    )
    contestants = []
    for contestant in campaign.contestants.select_related("generation_job").annotate(
        answers=Count("entries")
    ):
        job = contestant.generation_job
        contestants.append(
            {
                "name": contestant.name,
                "checkpoint": contestant.checkpoint_id,
                "answers": contestant.answers,
                "generation_job": job and {"id": job.pk, "status": job.status},
            }
        )
    return {
        "campaign": campaign.name,
        "status": campaign.status,
        "error": campaign.error,
        "format": campaign.format,
        "split": campaign.split,
        "prompts": len(campaign.prompt_ids),
        "overlap": campaign.overlap,
        "contestants": contestants,
        "tasks": len(tasks),
        "rankings": sum(task.current for task in tasks),
        "missing": sum(max(task.overlap - task.current, 0) for task in tasks),
        "outside_judgments": campaign.outside_judgments.count(),
    }
