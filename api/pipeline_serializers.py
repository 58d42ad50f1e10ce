"""Serializers of pipelines and retraining schedules (``api/pipeline_views.py``).

They only parse and shape: starting, cancelling and resuming a pipeline, and writing a
schedule, are ``pipelines.service`` and ``pipelines.retraining``'s (their refusals are 400s
naming the field, ``api.exceptions``).
"""

import re

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.checks import has_nul
from pipelines import retraining, service
from pipelines.models import Pipeline, RetrainingSchedule
from training.models import Checkpoint

from .serializers import ScopedSlugField, json_object


class ProjectField(ScopedSlugField):
    """A project by slug (as jobs name it) or by id, among the caller's projects."""

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            project = self.get_queryset().filter(pk=data).first()
            if project is None:
                self.fail("does_not_exist", slug_name=self.slug_field, value=data)
            return project
        return super().to_internal_value(data)


class StageSerializer(serializers.Serializer):
    """One stage as ``pipelines.service.describe`` shows it."""

    round = serializers.IntegerField(help_text="0: SFT; 1..rounds: the loop")
    kind = serializers.CharField(help_text="sft, generate, rank, rm, ppo or evaluate")
    job = serializers.IntegerField(allow_null=True, help_text="Its training job (rank: none).")
    status = serializers.CharField(help_text="running, succeeded or failed")
    checkpoint = serializers.IntegerField(allow_null=True, help_text="Its output checkpoint.")
    parent = serializers.IntegerField(
        allow_null=True, help_text="What its output starts from (generate, evaluate: the policy)."
    )
    reward_model = serializers.IntegerField(allow_null=True)
    metrics = serializers.DictField(child=serializers.FloatField())
    note = serializers.CharField(help_text="What it waits for, or why it failed.")


class PipelineSerializer(serializers.ModelSerializer):
    """A pipeline: ``service.describe`` (``pipeline``, ``stages``, ...) and its record."""

    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pipeline = serializers.IntegerField(source="pk", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, allow_null=True
    )
    stages = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = [
            "id", "pipeline", "project", "status", "error", "labelers", "mode", "rounds",
            "base_checkpoint", "config", "created_by", "created_at", "finished_at", "stages",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(StageSerializer(many=True))
    def get_stages(self, pipeline):
        return service.describe(pipeline)["stages"]


class PipelineCreateSerializer(serializers.Serializer):
    project = ProjectField(role="labeler", help_text="The project's slug (or id).")
    labelers = serializers.CharField(
        default="simulated", help_text="Who ranks the generated samples: human or simulated."
    )
    rounds = serializers.IntegerField(
        default=1,
        help_text=f"generate → rank → RM → PPO → evaluate rounds (1 to {service.MAX_ROUNDS}).",
    )
    base = serializers.PrimaryKeyRelatedField(
        queryset=Checkpoint.objects.all(), required=False, allow_null=True,
        help_text="Checkpoint id SFT starts from; default: the platform's base model.",
    )  # fmt: skip
    config = serializers.JSONField(
        required=False,
        help_text='Per-stage job configs: {"sft": {...}, "generate": {...}, "rm": {...}, '
        '"ppo": {...}, "evaluate": {...}, "simulation": {...}, "preset": "quick"}; '
        '"algorithm": "dpo" trains each round\'s policy with DPO (config "dpo": {...}) in '
        "place of PPO, the RM kept to judge the evaluation.",
    )

    def validate_labelers(self, value):
        if has_nul(value):
            raise serializers.ValidationError("must not contain NUL characters")
        return value

    def validate_config(self, value):
        return json_object(value)


# A time of day on the server's clock. Not OpenAPI's format "time": that is RFC 3339's,
# which requires a UTC offset that a nightly time in the server's zone does not have.
TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


@extend_schema_field({"type": "string", "pattern": TIME_OF_DAY, "example": "02:00"})
class TimeOfDayField(serializers.TimeField):
    """HH:MM or HH:MM:SS, nothing else (DRF would also take an offset, then drop it)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(TIME_OF_DAY, value):
            self.fail("invalid", format="hh:mm[:ss]")
        return super().to_internal_value(value)


class RetrainingScheduleSerializer(serializers.ModelSerializer):
    project = ProjectField(role="labeler", help_text="The project's slug (or id).")
    at_time = TimeOfDayField(
        required=False, help_text=str(RetrainingSchedule._meta.get_field("at_time").help_text)
    )
    next_run_at = serializers.SerializerMethodField(
        help_text="When beat runs it next (null when it is off)."
    )

    class Meta:
        model = RetrainingSchedule
        fields = [
            "id", "project", "kind", "enabled", "min_new_rankings", "every_minutes", "at_time",
            "sft_checkpoint", "config", "periodic_task", "last_run_at", "last_outcome",
            "last_pipeline", "next_run_at",
        ]  # fmt: skip
        read_only_fields = ["periodic_task", "last_run_at", "last_outcome", "last_pipeline"]
        # one schedule of a kind per project: the service says so, naming the field
        validators = []

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, schedule):
        return retraining.next_run(schedule)

    def validate_config(self, value):
        return json_object(value)
