"""Django records of what the engine produced: checkpoints, frozen datasets, jobs."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver


class DatasetSnapshot(models.Model):
    """An immutable, content-hashed export that training jobs reference."""

    class Kind(models.TextChoices):
        COMPARISONS = "comparisons"
        RANKINGS = "rankings"
        DEMONSTRATIONS = "demonstrations"
        PROMPTS = "prompts"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.PROTECT, related_name="snapshots"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    options = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    n_rows = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "content_hash"], name="snapshot_content_unique"
            )
        ]

    def __str__(self):
        return f"{self.kind} snapshot {self.content_hash[:12]}"


class Checkpoint(models.Model):
    class Kind(models.TextChoices):
        BASE = "base"
        SFT = "sft"
        REWARD = "rm", "Reward model"
        POLICY = "policy"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    path = models.CharField(max_length=500, help_text="Local folder or hub id.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["base", "sft", "rm", "policy"]), name="checkpoint_kind"
            )
        ]

    def __str__(self):
        return f"{self.kind}:{self.name}"


class PretrainingCorpus(models.Model):
    """Texts for PPO-ptx's pretraining loss: an imported file or an offline Hugging Face
    dataset, copied as content-hashed JSONL (one ``{"text": ...}`` a line) under
    ``PREFLAB_ARTIFACTS_DIR/corpora/``, so a job reads exactly what was imported."""

    class Source(models.TextChoices):
        FILE = "file"
        HF_DATASET = "hf_dataset", "Hugging Face dataset"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.PROTECT, related_name="pretraining_corpora"
    )
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=Source.choices)
    origin = models.CharField(
        max_length=500, help_text="The imported file, or the dataset's name or folder and split."
    )
    content_hash = models.CharField(max_length=64)
    path = models.CharField(max_length=500, help_text="The content-hashed JSONL copy.")
    n_rows = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "pretraining corpora"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="corpus_name_unique")
        ]

    def __str__(self):
        return f"corpus {self.name} ({self.n_rows} texts)"


class TrainingJob(models.Model):
    """One run of the engine. Its status only moves through ``training.lifecycle``, each move a
    conditional UPDATE from the state it expects (see that module for the graph)."""

    class Kind(models.TextChoices):
        SFT = "sft"
        REWARD = "rm", "Reward model"
        PPO = "ppo"
        GENERATE = "generate"
        EVALUATE = "evaluate", "Evaluate (a policy against its parent, judged by a reward model)"
        DPO = "dpo", "DPO (a policy trained on rankings directly)"
        BEST_OF_N = "best_of_n", "Best-of-n (keep the reward model's best of n samples)"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        RETRYING = "retrying", "Retrying (queued again after a lost worker or a retry)"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RETRYING, Status.RUNNING)
    WAITING = (Status.QUEUED, Status.RETRYING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    config = models.JSONField(default=dict, blank=True)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # RM jobs: the demonstrations the reward is normalised on, frozen with the rankings
    demonstrations_snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # PPO-ptx: the texts of the pretraining loss (config ``ptx_coef`` > 0)
    pretrain_corpus = models.ForeignKey(
        PretrainingCorpus, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # a job made by ``rerun_job``: the job whose record it repeats
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    base_checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    output_checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    progress = models.FloatField(default=0)
    log_tail = models.TextField(blank=True, default="")
    worker = models.CharField(
        max_length=200, blank=True, default="", help_text="name:pid of the process running it"
    )
    resume_path = models.CharField(
        max_length=500, blank=True, default="", help_text="Where its resumable state is saved."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="How many times it has started.")
    resumed_from_step = models.PositiveIntegerField(
        null=True, blank=True, help_text="The step the latest attempt resumed from."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # the outbox mark: when the message for the job's current wait went to the broker; null
    # while it has not (the broker was down), so ``training.dispatch.send_unsent`` sends it
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_range"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "running", "retrying", "succeeded", "failed", "cancelled"]
                ),
                name="job_status",
            ),
        ]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def processes(self) -> int:
        return int(self.config.get("processes") or 1)

    def metric_series(self) -> list[dict]:
        """The metric time series, one dict per step, in step order."""
        rows = self.metric_rows.all()  # prefetched by list views
        return [{"step": row.step, **row.values} for row in sorted(rows, key=lambda r: r.step)]

    def alarms(self) -> list[dict]:
        """The reward-hacking watch's alarms (training/engine/watch.py), read from the metric
        series, where the engine logs each as ``alarm/<kind>`` at the step it was raised:
        [{"step", "kind", "value", "message"}], and a last ``stopped`` one when a stop rule
        ended the run."""
        from training.engine.ppo_config import PPOConfig
        from training.engine.watch import alarm_message

        if self.kind != "ppo":
            return []
        # the thresholds the run used: the job's config over the engine's defaults
        known = {k: v for k, v in self.config.items() if k in PPOConfig.__dataclass_fields__}
        try:
            config = PPOConfig(**(known | {"reward_model": "rm"}))
        except (TypeError, ValueError):
            config = PPOConfig(reward_model="rm")
        found = []
        for row in self.metric_series():
            for key, value in row.items():
                if key.startswith("alarm/"):
                    kind = key.removeprefix("alarm/")
                    message = alarm_message(kind, value, config)
                    found.append(
                        {"step": row["step"], "kind": kind, "value": value, "message": message}
                    )
            if "watch/stopped_at_step" in row:
                found.append(
                    {
                        "step": row["step"],
                        "kind": "stopped",
                        "value": row["watch/stopped_at_step"],
                        "message": f"a stop rule ended the run at step {row['step']}",
                    }
                )
        return found


class JobMetric(models.Model):
    """One step of a job's metric series. Rows are appended as the job runs (never the whole
    series rewritten), and a step reported again after a resume replaces its row."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metric_rows")
    step = models.PositiveIntegerField()
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["job", "step"]
        constraints = [
            models.UniqueConstraint(fields=["job", "step"], name="job_metric_step_unique")
        ]

    def __str__(self):
        return f"job {self.job_id} step {self.step}"


@receiver(post_delete, sender=Checkpoint)
def _forget_generated_by(sender, instance, **kwargs):
    """Responses a deleted checkpoint generated no longer name it. ``Response.checkpoint_id``
    is a plain column (labeling knows nothing of training), so no foreign key does this."""
    from labeling.models import Response

    Response.objects.filter(checkpoint_id=instance.pk).update(checkpoint_id=None)
