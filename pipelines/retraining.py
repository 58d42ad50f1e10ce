"""Scheduled retraining: a project's schedules, run by django-celery-beat.

Each ``RetrainingSchedule`` owns one beat ``PeriodicTask`` (task ``pipelines.run_schedule``,
its id as the argument); ``save_schedule`` is the one way a schedule is written, so the
PeriodicTask always says what the schedule says (interval, crontab, enabled).

- ``retrain_on_rankings``: the check counts the project's current rankings submitted since
  its last RM job was created (the RM job freezes its rankings snapshot when it is created,
  so these are exactly the rankings no reward model has seen; evaluation tasks' rankings are
  left out, as they are of snapshots). At ``min_new_rankings`` or more, it starts one retrain
  pipeline: RM (its rankings snapshot frozen as the job is created) → PPO → generate the next
  tasks. The pipelines' lock (one running pipeline per project, a partial unique constraint)
  is what makes a second concurrent chain impossible: a check that finds a pipeline running
  only drives it.
- ``nightly_snapshot``: freezes the project's rankings as a snapshot.

A retrain chain has no command polling it: ``service.advance_running`` (beat, every 30 s,
for every running pipeline) and every check move it on.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from labeling.errors import ServiceError
from labeling.models import Ranking, RankingTask
from training import jobs
from training.models import Checkpoint, TrainingJob

from . import service
from .models import Pipeline, RetrainingSchedule

log = logging.getLogger(__name__)
Kind = RetrainingSchedule.Kind
TASK = "pipelines.run_schedule"
# the job configs a retrain chain takes (its stages)
CONFIG_KEYS = ("rm", "ppo", "generate")
MAX_EVERY_MINUTES = 24 * 60


# --- writing a schedule --------------------------------------------------------------------


def check_schedule(schedule: RetrainingSchedule) -> None:
    """Refuse a schedule that cannot run, naming the field (``ServiceError``)."""
    if schedule.kind not in Kind.values:
        raise ServiceError("kind", f"{schedule.kind!r} is not one of {', '.join(Kind.values)}")
    if not schedule.min_new_rankings or schedule.min_new_rankings < 1:
        raise ServiceError("min_new_rankings", "must be at least 1")
    if not schedule.every_minutes or not 1 <= schedule.every_minutes <= MAX_EVERY_MINUTES:
        raise ServiceError("every_minutes", f"expected 1 to {MAX_EVERY_MINUTES} minutes")
    if schedule.at_time is None:
        raise ServiceError("at_time", "a time of day is required")
    if not isinstance(schedule.config, dict):
        raise ServiceError("config", 'must be a JSON object: {"rm": {...}, "ppo": {...}, ...}')
    for key, value in schedule.config.items():
        if key not in CONFIG_KEYS:
            raise ServiceError("config", f"unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if not isinstance(value, dict):
            raise ServiceError("config", f"{key}: must be a JSON object of job settings")
    sft = schedule.sft_checkpoint
    if sft is not None and sft.kind not in jobs.BASE_KINDS["rm"]:
        raise ServiceError("sft_checkpoint", f"checkpoint {sft.pk} is a {sft.kind} checkpoint")
    if schedule.project_id is not None:
        same = RetrainingSchedule.objects.filter(project_id=schedule.project_id, kind=schedule.kind)
        if schedule.pk is not None:
            same = same.exclude(pk=schedule.pk)
        if same.exists():
            raise ServiceError("kind", f"the project has a {schedule.kind} schedule already")


def save_schedule(schedule: RetrainingSchedule) -> RetrainingSchedule:
    """Create or update a schedule and its beat PeriodicTask, in one transaction."""
    check_schedule(schedule)
    with transaction.atomic():
        schedule.save()
        task = schedule.periodic_task or PeriodicTask(task=TASK)
        task.name = f"retraining schedule {schedule.pk}: {schedule.kind} of {schedule.project}"
        task.task = TASK
        task.args = json.dumps([schedule.pk])
        task.enabled = schedule.enabled
        if schedule.kind == Kind.RETRAIN_ON_RANKINGS:
            task.interval, _ = IntervalSchedule.objects.get_or_create(
                every=schedule.every_minutes, period=IntervalSchedule.MINUTES
            )
            task.crontab = None
        else:
            task.crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=str(schedule.at_time.minute),
                hour=str(schedule.at_time.hour),
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
            task.interval = None
        task.save()  # PeriodicTask.save marks the table changed: beat reloads it
        if schedule.periodic_task_id != task.pk:
            schedule.periodic_task = task
            schedule.save(update_fields=["periodic_task"])
    return schedule


def delete_schedule(schedule: RetrainingSchedule) -> None:
    """Delete a schedule and its beat PeriodicTask together (``models._drop_periodic_task``
    removes the task whichever way a schedule goes; here it is in the same transaction)."""
    with transaction.atomic():
        task_id = schedule.periodic_task_id
        schedule.delete()
        if task_id is not None:
            PeriodicTask.objects.filter(pk=task_id).delete()


# --- running a schedule --------------------------------------------------------------------


def new_rankings(project) -> int:
    """Current rankings submitted since the project's last RM job was created (when its
    rankings snapshot was frozen); evaluation tasks' rankings never train a reward model."""
    rankings = Ranking.objects.filter(task__project=project, is_current=True).exclude(
        task__source=RankingTask.Source.EVALUATION
    )
    last_rm = (
        TrainingJob.objects.filter(project=project, kind=TrainingJob.Kind.REWARD)
        .order_by("-created_at")
        .first()
    )
    if last_rm is not None:
        rankings = rankings.filter(submitted_at__gt=last_rm.created_at)
    return rankings.count()


def latest_sft(project) -> Checkpoint | None:
    """The project's newest SFT checkpoint (the output of its latest successful SFT job)."""
    job = (
        TrainingJob.objects.filter(
            project=project,
            kind=TrainingJob.Kind.SFT,
            status=TrainingJob.Status.SUCCEEDED,
            output_checkpoint__isnull=False,
        )
        .select_related("output_checkpoint")
        .order_by("-finished_at", "-id")
        .first()
    )
    return job.output_checkpoint if job is not None else None


def check_retraining(schedule: RetrainingSchedule) -> tuple[str, Pipeline | None]:
    """One retrain check: (what it did, the pipeline it started or None)."""
    project = schedule.project
    service.advance_running(project)  # a pipeline that has just finished frees the lock now
    running = Pipeline.objects.filter(project=project, status=Pipeline.Status.RUNNING).first()
    if running is not None:
        return f"pipeline {running.pk} is running: no second chain", None
    count, needed = new_rankings(project), schedule.min_new_rankings
    if count < needed:
        return f"{count} new rankings of {needed} needed: nothing started", None
    sft = schedule.sft_checkpoint or latest_sft(project) or jobs.base_checkpoint()
    try:
        pipeline = service.start_pipeline(
            project,
            labelers=Pipeline.Labelers.HUMAN,
            mode=Pipeline.Mode.RETRAIN,
            base=sft,
            config=dict(schedule.config),
        )
    except ServiceError as exc:  # another check, or a person, started one meanwhile
        return f"not started: {exc.message}", None
    pipeline = service.advance(pipeline)  # creates the RM job (enqueued after commit)
    outcome = f"{count} new rankings: started pipeline {pipeline.pk} (RM from checkpoint {sft.pk})"
    if pipeline.status == Pipeline.Status.FAILED:
        outcome += f"; it failed: {pipeline.error}"
    return outcome, pipeline


def nightly_snapshot(schedule: RetrainingSchedule) -> str:
    from training.snapshots import create_snapshot

    snapshot = create_snapshot(schedule.project, "rankings")
    return f"rankings snapshot {snapshot.pk}: {snapshot.n_rows} rows ({snapshot.content_hash[:12]})"


def run_schedule(schedule_id: int) -> str:
    """What beat runs: the schedule's check or snapshot, its outcome recorded on the row."""
    schedule = (
        RetrainingSchedule.objects.select_related("project", "sft_checkpoint")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None:  # deleted after beat sent the message
        return f"schedule {schedule_id} is gone"
    if not schedule.enabled:
        return f"schedule {schedule_id} is disabled"
    pipeline = None
    try:
        if schedule.kind == Kind.NIGHTLY_SNAPSHOT:
            outcome = nightly_snapshot(schedule)
        else:
            outcome, pipeline = check_retraining(schedule)
    except ServiceError as exc:
        outcome = f"refused: {exc}"
    fields = {"last_run_at": timezone.now(), "last_outcome": outcome}
    if pipeline is not None:
        fields["last_pipeline"] = pipeline
    RetrainingSchedule.objects.filter(pk=schedule.pk).update(**fields)
    log.info("retraining schedule %s: %s", schedule.pk, outcome)
    return outcome


# --- what the dashboard shows --------------------------------------------------------------


def next_run(schedule: RetrainingSchedule):
    """When beat runs the schedule next (None when it is off), from its PeriodicTask's
    schedule and last run, as beat computes it."""
    task = schedule.periodic_task
    if task is None or not task.enabled or not schedule.enabled:
        return None
    now = timezone.now()
    # beat counts a task that never ran from when it first loaded it: now is close enough
    remaining = task.schedule.remaining_estimate(task.last_run_at or now)
    at = now + max(remaining, timedelta(0))  # an overdue task runs at beat's next tick
    # to the nearest second: celery reads its own "now", a few microseconds off ours
    return (at + timedelta(microseconds=500_000)).replace(microsecond=0)


def overview() -> list[dict]:
    """Every schedule with its last and next run, for the training page."""
    schedules = RetrainingSchedule.objects.select_related(
        "project", "periodic_task", "periodic_task__interval", "periodic_task__crontab",
        "last_pipeline",
    ).order_by("project__slug", "kind")  # fmt: skip
    return [
        {
            "schedule": schedule,
            "project": schedule.project,
            "kind": schedule.get_kind_display(),
            "enabled": schedule.enabled,
            "rule": _rule(schedule),
            "last_run_at": schedule.last_run_at,
            "last_outcome": schedule.last_outcome,
            "last_pipeline": schedule.last_pipeline,
            "next_run_at": next_run(schedule),
        }
        for schedule in schedules
    ]


def _rule(schedule: RetrainingSchedule) -> str:
    if schedule.kind == Kind.NIGHTLY_SNAPSHOT:
        return f"every night at {schedule.at_time:%H:%M}"
    return (
        f"every {schedule.every_minutes} min: ≥ {schedule.min_new_rankings} new rankings → "
        "RM → PPO → generate"
    )
