"""A pipeline: InstructGPT's loop as one record, SFT → (generate → rank → RM → PPO → evaluate)
× rounds, each stage a training job (``rank`` waits for labelers instead).

Statuses only move through ``pipelines.service``, each move a conditional UPDATE from the
state it expects, as jobs' do (``training.lifecycle``). At most one pipeline of a project
runs at a time: a partial unique constraint says so to the database, and the service refuses
a second one before it gets there.
"""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver


class Pipeline(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        # stopped by a person (``service.cancel_pipeline``): final, and it frees the lock
        CANCELLED = "cancelled"

    class Labelers(models.TextChoices):
        HUMAN = "human"
        SIMULATED = "simulated"
        # an AI labeler (training.ai_labelers): config "ai_labeler" is its name, "ai_judge" its
        # judge (rm:ID or checkpoint:ID)
        AI = "ai", "AI labeler"

    class Mode(models.TextChoices):
        LOOP = "loop", "SFT, then (generate → rank → RM → PPO → evaluate) × rounds"
        # started by a retraining schedule: the rankings are in already, the SFT model exists
        RETRAIN = "retrain", "RM → PPO → generate the next tasks, from an SFT checkpoint"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="pipelines"
    )
    labelers = models.CharField(max_length=16, choices=Labelers.choices)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.LOOP)
    rounds = models.PositiveSmallIntegerField(default=1)
    # loop: what SFT starts from; retrain: the SFT (or base) model the RM and PPO start from
    base_checkpoint = models.ForeignKey(
        "training.Checkpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # per-stage job configs ({"sft": {...}, "rm": {...}, ...}) and the simulation's settings
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status="running"),
                name="pipeline_one_running_per_project",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["running", "succeeded", "failed", "cancelled"]),
                name="pipeline_status",
            ),
        ]

    def __str__(self):
        return f"pipeline {self.pk} of {self.project_id} ({self.status})"


class PipelineStage(models.Model):
    class Kind(models.TextChoices):
        SFT = "sft"
        GENERATE = "generate"
        RANK = "rank"
        RM = "rm", "Reward model"
        PPO = "ppo"
        DPO = "dpo"  # a pipeline with algorithm "dpo" has it in place of PPO
        EVALUATE = "evaluate"

    class Status(models.TextChoices):
        RUNNING = "running"  # its job is queued or running, or (rank) labelers are at work
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    round = models.PositiveSmallIntegerField(help_text="0: SFT; 1..rounds: the loop")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    job = models.ForeignKey(
        "training.TrainingJob",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pipeline_stages",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # the checkpoint the stage's output starts from (generate, evaluate: the policy sampled)
    parent = models.ForeignKey(
        "training.Checkpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reward_model = models.ForeignKey(
        "training.Checkpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    output = models.ForeignKey(
        "training.Checkpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    metrics = models.JSONField(default=dict, blank=True)
    # rank: what it waits for ("12 tasks, 7 rankings missing"); failed: why
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pipeline", "round", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "round", "kind"], name="pipeline_stage_unique"
            ),
            models.CheckConstraint(
                condition=Q(job__isnull=False) | Q(kind="rank") | ~Q(status="succeeded"),
                name="pipeline_stage_job_unless_rank",
            ),
        ]

    def __str__(self):
        return f"{self.kind} (round {self.round}) of pipeline {self.pipeline_id}: {self.status}"


class RetrainingSchedule(models.Model):
    """A project's scheduled retraining, run by django-celery-beat through ``periodic_task``
    (kept in step with these fields by ``pipelines.retraining.save_schedule``).

    - ``retrain_on_rankings``: every ``every_minutes``, a check starts one retrain pipeline
      (RM → PPO → generate) when the project has ``min_new_rankings`` new rankings since its
      last RM job and no pipeline runs;
    - ``nightly_snapshot``: every night at ``at_time``, a rankings snapshot is frozen.
    """

    class Kind(models.TextChoices):
        RETRAIN_ON_RANKINGS = "retrain_on_rankings", "Retrain when enough new rankings"
        NIGHTLY_SNAPSHOT = "nightly_snapshot", "Nightly rankings snapshot"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="retraining_schedules"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    min_new_rankings = models.PositiveIntegerField(
        default=100, help_text="Retrain: new rankings since the last RM job that start a chain."
    )
    every_minutes = models.PositiveIntegerField(
        default=5, help_text="Retrain: how often the check runs."
    )
    at_time = models.TimeField(
        default=datetime.time(2, 0),
        help_text="Nightly snapshot: when it runs (the server's time zone).",
    )
    sft_checkpoint = models.ForeignKey(
        "training.Checkpoint",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Retrain: what the RM and PPO start from (default: the project's latest SFT "
        "checkpoint, else the base model).",
    )
    # the chain's job configs: {"rm": {...}, "ppo": {...}, "generate": {...}}
    config = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_outcome = models.TextField(blank=True, default="", editable=False)
    last_pipeline = models.ForeignKey(
        Pipeline,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest chain this schedule started.",
    )

    class Meta:
        ordering = ["project", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind"], name="retraining_schedule_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["retrain_on_rankings", "nightly_snapshot"]),
                name="retraining_schedule_kind",
            ),
        ]

    def __str__(self):
        return f"{self.kind} of {self.project_id}"


@receiver(post_delete, sender=RetrainingSchedule)
def _drop_periodic_task(sender, instance, **kwargs):
    # whichever way the schedule goes (the admin, its project's deletion), beat must not keep
    # running a check for a schedule that no longer exists
    if instance.periodic_task_id is not None:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
