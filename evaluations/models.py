"""Human evaluation: a campaign puts 2..M contestants' answers to the same prompts before
labelers, blind, and its report turns their preferences into win rates and Bradley–Terry
strengths (``evaluations.report``), as InstructGPT reported "preferred to GPT-3 175B 85 ± 3 %
of the time".

The labelers' side is the ordinary ranking task (``RankingTask.Source.EVALUATION``): the
same page, positions shuffled per labeler, and nothing on it names a model. Which contestant
wrote which response lives only here, in ``Entry`` rows, which no labeler-facing page or API
reads. Evaluation rankings never train a reward model (exports leave them out by default).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Campaign(models.Model):
    class Status(models.TextChoices):
        GENERATING = "generating", "Sampling the contestants' answers"
        OPEN = "open", "Tasks are out to labelers"
        CLOSED = "closed", "Closed: no more judgments"
        FAILED = "failed", "A contestant's generation failed"

    class Format(models.TextChoices):
        PAIRWISE = "pairwise", "Pairs: A, B or tie"
        RANKING = "ranking", "Rank all M answers (Likert and flags as usual)"

    project = models.ForeignKey(
        "labeling.Project", on_delete=models.CASCADE, related_name="evaluation_campaigns"
    )
    name = models.CharField(max_length=100)
    split = models.CharField(max_length=16, default="test", help_text="The prompts' split.")
    max_prompts = models.PositiveIntegerField(null=True, blank=True)
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.PAIRWISE)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Labelers per task.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING)
    error = models.TextField(blank=True, default="")
    # the prompts it asks, frozen when it is created (a later import does not change them)
    prompt_ids = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="campaign_name_per_project")
        ]

    def __str__(self):
        return f"{self.project.slug}/{self.name}"


class Contestant(models.Model):
    """A checkpoint whose answers a generation job samples, or an imported model whose
    answers are the project's responses of that ``model_name``."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contestants")
    name = models.CharField(max_length=200)
    checkpoint = models.ForeignKey(
        "training.Checkpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    generation_job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="contestant_name")]

    def __str__(self):
        return self.name


class Entry(models.Model):
    """A contestant's answer to one prompt. Two contestants that wrote the same text share
    the response: that pair is a tie without asking anyone."""

    contestant = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="entries")
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey("labeling.Response", on_delete=models.PROTECT, related_name="+")
    # reward-model scores of the answer, by checkpoint id: the RM as a judge
    scores = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["contestant", "prompt"], name="entry_per_prompt")
        ]

    def __str__(self):
        return f"{self.contestant} on prompt {self.prompt_id}"


class CampaignTask(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks")
    task = models.OneToOneField(
        "labeling.RankingTask", on_delete=models.CASCADE, related_name="evaluation"
    )

    def __str__(self):
        return f"task {self.task_id} of {self.campaign}"


class OutsideJudgment(models.Model):
    """An imported pairwise judgment, in Chatbot Arena's convention."""

    class Winner(models.TextChoices):
        MODEL_A = "model_a"
        MODEL_B = "model_b"
        TIE = "tie"

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="outside_judgments"
    )
    prompt = models.ForeignKey("labeling.Prompt", on_delete=models.CASCADE, related_name="+")
    model_a = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    model_b = models.ForeignKey(Contestant, on_delete=models.CASCADE, related_name="+")
    # the answers judged (an arena has many battles per prompt, each with its own answers)
    response_a = models.ForeignKey("labeling.Response", on_delete=models.PROTECT, related_name="+")
    response_b = models.ForeignKey("labeling.Response", on_delete=models.PROTECT, related_name="+")
    winner = models.CharField(max_length=8, choices=Winner.choices)
    labeler = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(model_a=models.F("model_b")), name="judgment_pair"),
            models.CheckConstraint(
                condition=Q(winner__in=["model_a", "model_b", "tie"]), name="judgment_winner"
            ),
        ]

    def __str__(self):
        return f"{self.model_a} vs {self.model_b}: {self.winner}"
