"""A pipeline: InstructGPT's loop as one record, SFT → (generate → rank → RM → PPO → evaluate)
× rounds, each stage a training job (``rank`` waits for labelers instead).

Statuses only move through ``pipelines.service``, each move a conditional UPDATE from the
state it expects, as jobs' do (``training.lifecycle``). At most one pipeline of a project
runs at a time: a partial unique constraint says so to the database, and the service refuses
a second one before it gets there.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Pipeline(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Labelers(models.TextChoices):
        HUMAN = "human"
        SIMULATED = "simulated"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="pipelines"
    )
    labelers = models.CharField(max_length=16, choices=Labelers.choices)
    rounds = models.PositiveSmallIntegerField(default=1)
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
                condition=Q(status__in=["running", "succeeded", "failed"]), name="pipeline_status"
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
