"""Serializers: shapes of the API's rows. Writes go through the labeling/training modules.

Relations a caller may name are limited to what the caller can see (``_scoped``), so a
foreign id is "does not exist" on that field, never a hint that it exists elsewhere.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.models import (
    MAX_K,
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
)
from labeling.outputs.exports import DEMONSTRATION_STATUSES, DEMONSTRATION_STYLES
from labeling.vocabulary import SPLITS, DemonstrationStatus
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

from . import permissions

MAX_BULK = 1000


def _request(serializer):
    return serializer.context["request"]


def has_nul(value) -> bool:
    """PostgreSQL text and jsonb cannot hold NUL characters: a query with one fails."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def no_nul(value):
    if has_nul(value):
        raise serializers.ValidationError("must not contain NUL characters")
    return value


def json_object(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be an object")
    return no_nul(value)


class ScopedSlugField(serializers.SlugRelatedField):
    """A project by slug, among the projects where the caller holds ``role``."""

    def __init__(self, role="labeler", **kwargs):
        self.role = role
        kwargs.setdefault("slug_field", "slug")
        kwargs.setdefault("queryset", Project.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        return permissions.in_projects(
            Project.objects.all(), self.context["request"], self.role, project_path="pk"
        )

    def to_internal_value(self, data):
        if not isinstance(data, str) or has_nul(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A row by id among those of the caller's projects (``project_path`` from the row)."""

    def __init__(self, model, project_path, role="labeler", **kwargs):
        self.model, self.project_path, self.role = model, project_path, role
        kwargs.setdefault("queryset", model.objects.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        return permissions.in_projects(
            self.model.objects.all(), self.context["request"], self.role,
            project_path=self.project_path,
        )  # fmt: skip


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in this project.")

    class Meta:
        model = Project
        fields = [
            "id", "slug", "name", "guidelines", "k_min", "k_max", "overlap", "allow_ties",
            "gold_rate", "lease_minutes", "likert_max", "flags", "split_fractions",
            "prompt_cap_per_user", "dedup_prefix_chars", "min_seconds_per_task", "created_at",
            "role",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "role"]

    def get_role(self, project) -> str | None:
        from labeling import roles

        return roles.role_in(_request(self).user, project)

    def validate(self, attrs):
        from labeling.intake import splits

        k_min = attrs.get("k_min", getattr(self.instance, "k_min", 4))
        k_max = attrs.get("k_max", getattr(self.instance, "k_max", 9))
        if not 2 <= k_min <= k_max <= MAX_K:
            raise serializers.ValidationError({"k_max": [f"need 2 <= k_min <= k_max <= {MAX_K}"]})
        if "split_fractions" in attrs:
            if not isinstance(attrs["split_fractions"], dict) or has_nul(attrs["split_fractions"]):
                raise serializers.ValidationError({"split_fractions": ["must be an object"]})
            try:
                splits.validate_fractions(attrs["split_fractions"])
            except (TypeError, ValueError) as exc:
                raise serializers.ValidationError(
                    {"split_fractions": [str(exc).removeprefix("split_fractions: ")]}
                ) from exc
        if "flags" in attrs and not (
            isinstance(attrs["flags"], list)
            and all(isinstance(f, str) for f in attrs["flags"])
            and not has_nul(attrs["flags"])
        ):
            raise serializers.ValidationError({"flags": ["must be a list of strings"]})
        for name, low, high in (("gold_rate", 0, 1), ("likert_max", 2, 7), ("overlap", 1, None)):
            value = attrs.get(name)
            if value is not None and (value < low or (high is not None and value > high)):
                bound = f"{low}..{high}" if high is not None else f">= {low}"
                raise serializers.ValidationError({name: [f"must be {bound}"]})
        if attrs.get("lease_minutes") is not None and attrs["lease_minutes"] < 1:
            raise serializers.ValidationError({"lease_minutes": ["must be >= 1"]})
        return attrs


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False)


class PromptSerializer(serializers.ModelSerializer):
    project = ScopedSlugField(role="labeler")
    messages = MessageSerializer(many=True, required=False, allow_null=True)

    class Meta:
        model = Prompt
        fields = [
            "id", "project", "external_id", "text", "messages", "source_user", "category",
            "split", "metadata", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "split", "created_at"]
        # Uniqueness is decided by the dedup rules in create(), not by the model validators.
        validators = []

    def validate_metadata(self, value):
        return json_object(value)

    def validate(self, attrs):
        text, messages = attrs.get("text", ""), attrs.get("messages") or None
        if not text.strip() and not messages:
            raise serializers.ValidationError({"text": ["give the prompt text or its messages"]})
        if messages:
            if text:
                raise serializers.ValidationError({"text": ["give text or messages, not both"]})
            if messages[-1]["role"] != "user":
                raise serializers.ValidationError(
                    {"messages": ["the last message must be the user's (the prompt to answer)"]}
                )
            attrs["messages"] = [dict(m) for m in messages]
        return attrs


class ResponseSerializer(serializers.ModelSerializer):
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")

    class Meta:
        model = Response
        fields = [
            "id", "prompt", "text", "origin", "model_name", "checkpoint", "metadata", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]
        validators = []

    def validate_metadata(self, value):
        return json_object(value)


# Formats datetimes as every DRF DateTimeField of the API does (ISO 8601, "Z" for UTC).
DATETIME = serializers.DateTimeField()


class TaskResponseSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    id = serializers.IntegerField(source="response.id")
    text = serializers.CharField(source="response.text")


class TaskPromptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = ["id", "text", "messages", "category"]


class RankingTaskSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    prompt = TaskPromptSerializer(read_only=True)
    responses = TaskResponseSerializer(source="task_responses", many=True, read_only=True)

    class Meta:
        model = RankingTask
        fields = [
            "id", "project", "prompt", "k", "overlap", "source", "is_gold", "gold_ranks",
            "responses", "created_at",
        ]  # fmt: skip

    def to_representation(self, task):
        # By hand, what the fields above give (test_api_representations checks it): tasks
        # are shown on every `next`, and DRF builds its field objects anew for each one.
        prompt = task.prompt
        data = {
            "id": task.pk,
            "project": task.project.slug,
            "prompt": {
                "id": prompt.pk,
                "text": prompt.text,
                "messages": prompt.messages,
                "category": prompt.category,
            },
            "k": task.k,
            "overlap": task.overlap,
            "source": task.source,
        }
        # Labelers are never told which tasks are gold, nor the reference ranking.
        sees_gold = self.context.get("sees_gold")
        if sees_gold is not None and sees_gold(task.project_id):
            data["is_gold"], data["gold_ranks"] = task.is_gold, task.gold_ranks
        data["responses"] = [
            {"position": item.position, "id": item.response.pk, "text": item.response.text}
            for item in task.task_responses.all()
        ]
        data["created_at"] = DATETIME.to_representation(task.created_at)
        return data


class TaskCreateSerializer(serializers.Serializer):
    project = ScopedSlugField(role="labeler")
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")
    responses = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=2, max_length=MAX_K,
        help_text="Response ids in the task's canonical order.",
    )  # fmt: skip
    overlap = serializers.IntegerField(min_value=1, max_value=100, required=False)
    is_gold = serializers.BooleanField(default=False)
    gold_ranks = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True
    )


class ItemSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 = best; equal ranks are a tie.")
    likert = serializers.IntegerField(required=False, allow_null=True)
    flags = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class SubmitSerializer(serializers.Serializer):
    items = ItemSerializer(
        many=True, help_text="One per response, in the task's canonical position order."
    )
    submission_key = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Idempotency key for retries."
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    seconds_spent = serializers.FloatField(required=False, default=0.0, min_value=0)
    all_unacceptable = serializers.BooleanField(required=False, default=False)


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField()


class NextSerializer(serializers.Serializer):
    project = serializers.SlugField(help_text="Slug of a project where you are a labeler.")


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    leased_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class NextAssignmentSerializer(serializers.Serializer):
    assignment = AssignmentSerializer()
    task = RankingTaskSerializer()
    display_order = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Canonical positions in the order to show them to this labeler.",
    )

    def to_representation(self, body):
        held = body["assignment"]
        return {
            "assignment": {
                "id": held.pk,
                "status": held.status,
                "leased_at": DATETIME.to_representation(held.leased_at),
                "expires_at": DATETIME.to_representation(held.expires_at),
            },
            "task": RankingTaskSerializer(body["task"], context=self.context).data,
            "display_order": list(body["display_order"]),
        }


class RankingItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = RankingItem
        fields = ["response", "rank", "likert", "flags"]


class RankingSerializer(serializers.ModelSerializer):
    labeler = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )
    items = RankingItemSerializer(many=True, read_only=True)

    class Meta:
        model = Ranking
        fields = [
            "id", "task", "labeler", "version", "supersedes", "is_current", "all_unacceptable",
            "comment", "seconds_spent", "submitted_at", "items",
        ]  # fmt: skip

    def to_representation(self, ranking):
        # By hand, what the fields above give (test_api_representations): one per submit.
        return {
            "id": ranking.pk,
            "task": ranking.task_id,
            "labeler": ranking.labeler.get_username(),
            "version": ranking.version,
            "supersedes": ranking.supersedes_id,
            "is_current": ranking.is_current,
            "all_unacceptable": ranking.all_unacceptable,
            "comment": ranking.comment,
            "seconds_spent": float(ranking.seconds_spent),
            "submitted_at": DATETIME.to_representation(ranking.submitted_at),
            "items": [
                {
                    "response": item.response_id,
                    "rank": item.rank,
                    "likert": item.likert,
                    "flags": item.flags,
                }
                for item in ranking.items.all()
            ],
        }


class DemonstrationSerializer(serializers.ModelSerializer):
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")
    author = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )
    reviewed_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )
    seconds_spent = serializers.FloatField(required=False, min_value=0, max_value=1e7)

    class Meta:
        model = Demonstration
        fields = [
            "id", "prompt", "author", "text", "status", "review_note", "reviewed_by",
            "reviewed_at", "seconds_spent", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "review_note", "reviewed_at", "created_at"]
        # the rules (one per author and prompt, the length limit) are the service's
        extra_kwargs = {"text": {"trim_whitespace": False, "allow_blank": True}}


class ReviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[DemonstrationStatus.ACCEPTED, DemonstrationStatus.REJECTED]
    )
    review_note = serializers.CharField(required=False, allow_blank=True, default="")


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = ["id", "name", "kind", "path", "parent", "snapshot", "metrics", "created_at"]


class TrainingJobSerializer(serializers.ModelSerializer):
    project = ScopedSlugField(role="labeler")
    snapshot = ScopedPrimaryKeyField(
        DatasetSnapshot, "project", role="reviewer", required=False, allow_null=True,
        help_text="Train on this frozen snapshot; default: freeze the project's data now.",
    )  # fmt: skip
    base_checkpoint = serializers.PrimaryKeyRelatedField(
        queryset=Checkpoint.objects.all(), required=False, allow_null=True,
        help_text="Start from this checkpoint; default: the platform's base model.",
    )  # fmt: skip
    reward_checkpoint = serializers.PrimaryKeyRelatedField(
        queryset=Checkpoint.objects.all(), required=False, write_only=True,
        help_text="PPO: the reward model (an rm checkpoint) to optimise against.",
    )  # fmt: skip
    snapshot_options = serializers.DictField(
        required=False, write_only=True, help_text="Export options when a snapshot is frozen."
    )
    metrics = serializers.SerializerMethodField(
        help_text="The metric series: one object a step, {step, name: value, ...}."
    )
    created_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )

    class Meta:
        model = TrainingJob
        fields = [
            "id", "project", "kind", "status", "config", "snapshot", "base_checkpoint",
            "reward_checkpoint", "snapshot_options", "output_checkpoint", "progress",
            "attempts", "resumed_from_step", "heartbeat_at", "metrics", "log_tail", "worker",
            "error", "created_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = [
            "id", "status", "output_checkpoint", "progress", "attempts", "resumed_from_step",
            "heartbeat_at", "log_tail", "worker", "error", "created_by", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_metrics(self, job):
        return job.metric_series()

    def validate_config(self, value):
        return json_object(value)

    def validate_snapshot_options(self, value):
        return json_object(value)


class SnapshotSerializer(serializers.ModelSerializer):
    project = ScopedSlugField(role="labeler")
    created_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "project", "kind", "options", "content_hash", "n_rows", "created_by",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "content_hash", "n_rows", "created_by", "created_at"]
        validators = []

    def validate_kind(self, value):
        if value not in ("comparisons", "rankings", "demonstrations"):
            raise serializers.ValidationError("only comparisons, rankings or demonstrations")
        return value

    def validate_options(self, value):
        return json_object(value)


class ExportQuerySerializer(serializers.Serializer):
    """Query parameters of an export download (the same options as the commands)."""

    project = serializers.SlugField()
    file_format = serializers.ChoiceField(choices=["jsonl", "parquet"], default="jsonl")
    gzip = serializers.BooleanField(default=False)
    split = serializers.ChoiceField(choices=SPLITS, required=False)
    conversational = serializers.BooleanField(required=False, allow_null=True, default=None)
    consensus = serializers.BooleanField(required=False)
    min_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    include_gold = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(choices=DEMONSTRATION_STATUSES, required=False)
    style = serializers.ChoiceField(choices=DEMONSTRATION_STYLES, required=False)


class AgreementQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    category = serializers.ChoiceField(choices=Prompt.Category.choices, required=False)
    split = serializers.ChoiceField(choices=SPLITS, required=False)
