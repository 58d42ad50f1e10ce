"""Serializers: shapes of the API's rows. Writes go through the labeling/training modules.

Relations a caller may name are limited to what the caller can see (``_scoped``), so a
foreign id is "does not exist" on that field, never a hint that it exists elsewhere.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from labeling.assignment.records import RankingRecord, TaskRecord
from labeling.checks import has_nul
from labeling.intake import prompts
from labeling.models import (
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingTask,
    Response,
)
from labeling.outputs import options as export_options
from labeling.vocabulary import SPLITS, DemonstrationStatus
from training.models import Checkpoint, DatasetSnapshot, PretrainingCorpus, TrainingJob

from . import permissions

MAX_BULK = 1000


def _request(serializer):
    return serializer.context["request"]


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


def _help(name: str) -> str:
    return str(Project._meta.get_field(name).help_text)


class ProjectSerializer(serializers.Serializer):
    """A project's settings, parsed to their types; ``labeling.projects`` checks every rule
    (create and update go through it), so no bound is repeated here."""

    id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(
        allow_blank=True, help_text="Letters, digits, hyphens and underscores; unique."
    )
    name = serializers.CharField(allow_blank=True)
    guidelines = serializers.CharField(
        required=False, allow_blank=True, help_text=_help("guidelines")
    )
    principles = serializers.CharField(
        required=False, allow_blank=True, help_text=_help("principles")
    )
    k_min = serializers.IntegerField(required=False, help_text="Fewest responses in a task.")
    k_max = serializers.IntegerField(required=False, help_text="Most responses in a task.")
    overlap = serializers.IntegerField(required=False, help_text=_help("overlap"))
    allow_ties = serializers.BooleanField(required=False)
    gold_rate = serializers.FloatField(required=False, help_text=_help("gold_rate"))
    lease_minutes = serializers.IntegerField(required=False)
    likert_max = serializers.IntegerField(required=False, help_text=_help("likert_max"))
    flags = serializers.JSONField(
        required=False, help_text="The flag names labelers may tick: a list of strings."
    )
    split_fractions = serializers.JSONField(
        required=False, help_text='Share of source users per split: {"train": 0.8, ...}.'
    )
    prompt_cap_per_user = serializers.IntegerField(
        required=False, help_text=_help("prompt_cap_per_user")
    )
    dedup_prefix_chars = serializers.IntegerField(
        required=False, help_text=_help("dedup_prefix_chars")
    )
    min_seconds_per_task = serializers.IntegerField(
        required=False, help_text=_help("min_seconds_per_task")
    )
    created_at = serializers.DateTimeField(read_only=True)
    role = serializers.SerializerMethodField(help_text="The caller's role in this project.")

    def get_role(self, project) -> str | None:
        from labeling import roles

        return roles.role_in(_request(self).user, project)


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=prompts.ROLES)
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


class PromptSerializer(serializers.ModelSerializer):
    """A prompt parsed; its rules (text or messages, the user's last turn, metadata an
    object, dedup, the per-user cap) are PromptBook's, which the create view calls."""

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


class CheckpointIdField(serializers.PrimaryKeyRelatedField):
    """A checkpoint by id, kept as the bare id: ``Response.checkpoint_id`` is a plain column
    (labeling has no foreign key into training), so the API checks that the checkpoint
    exists, with the errors a related field gives."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Checkpoint.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).pk


class ResponseSerializer(serializers.ModelSerializer):
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")
    checkpoint = CheckpointIdField(
        source="checkpoint_id", required=False, allow_null=True,
        help_text="The checkpoint that generated it, if one did.",
    )  # fmt: skip

    class Meta:
        model = Response
        fields = [
            "id", "prompt", "text", "origin", "model_name", "checkpoint", "metadata", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]
        validators = []  # the response service's rules (labeling/intake/responses.py)


# Formats datetimes as every DRF DateTimeField of the API does (ISO 8601, "Z" for UTC).
DATETIME = serializers.DateTimeField()


class TaskResponseSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    id = serializers.IntegerField()
    text = serializers.CharField()


class TaskPromptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    messages = serializers.ListField(child=serializers.DictField(), allow_null=True)
    category = serializers.CharField()


class RankingTaskSerializer(serializers.Serializer):
    """A ``TaskRecord`` (labeling/assignment/records.py); a RankingTask is shown as its
    record. ``is_gold`` and ``gold_ranks`` only for those the context's ``sees_gold`` allows."""

    id = serializers.IntegerField()
    project = serializers.SlugField(help_text="The project's slug.")
    prompt = TaskPromptSerializer()
    k = serializers.IntegerField()
    overlap = serializers.IntegerField()
    source = serializers.ChoiceField(choices=RankingTask.Source.choices)
    is_gold = serializers.BooleanField(required=False)
    gold_ranks = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False
    )
    responses = TaskResponseSerializer(many=True, help_text="In canonical position order.")
    created_at = serializers.DateTimeField()

    def to_representation(self, task):
        # By hand, what the fields above give (test_api_representations checks it): tasks
        # are shown on every `next`, and DRF builds its field objects anew for each one.
        if isinstance(task, RankingTask):
            task = TaskRecord.of(task)
        prompt = task.prompt
        data = {
            "id": task.id,
            "project": task.project,
            "prompt": {
                "id": prompt.id,
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
            {"position": item.position, "id": item.id, "text": item.text} for item in task.responses
        ]
        data["created_at"] = DATETIME.to_representation(task.created_at)
        return data


class TaskCreateSerializer(serializers.Serializer):
    project = ScopedSlugField(role="labeler")
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")
    # The K range, the overlap's bounds and the gold reference are the task service's rules
    # (labeling/intake/ranking_tasks.py); here only the types are parsed.
    responses = serializers.ListField(
        child=serializers.IntegerField(), help_text="Response ids in the task's canonical order."
    )
    overlap = serializers.IntegerField(required=False)
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
                "id": held.id,
                "status": held.status,
                "leased_at": DATETIME.to_representation(held.leased_at),
                "expires_at": DATETIME.to_representation(held.expires_at),
            },
            "task": RankingTaskSerializer(body["task"], context=self.context).data,
            "display_order": list(body["display_order"]),
        }


class RankingItemSerializer(serializers.Serializer):
    response = serializers.IntegerField(help_text="The response's id.")
    rank = serializers.IntegerField()
    likert = serializers.IntegerField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())


class RankingSerializer(serializers.Serializer):
    """A ``RankingRecord`` (labeling/assignment/records.py); a Ranking is shown as its record."""

    id = serializers.IntegerField()
    task = serializers.IntegerField(help_text="The task's id.")
    labeler = serializers.CharField(help_text="The labeler's username.")
    version = serializers.IntegerField()
    supersedes = serializers.IntegerField(
        allow_null=True, help_text="The ranking this one replaced."
    )
    is_current = serializers.BooleanField()
    all_unacceptable = serializers.BooleanField()
    comment = serializers.CharField(allow_blank=True)
    seconds_spent = serializers.FloatField()
    submitted_at = serializers.DateTimeField()
    items = RankingItemSerializer(many=True, help_text="Best first.")

    def to_representation(self, ranking):
        # By hand, what the fields above give (test_api_representations): one per submit.
        if isinstance(ranking, Ranking):
            ranking = RankingRecord.of(ranking)
        return {
            "id": ranking.id,
            "task": ranking.task,
            "labeler": ranking.labeler,
            "version": ranking.version,
            "supersedes": ranking.supersedes,
            "is_current": ranking.is_current,
            "all_unacceptable": ranking.all_unacceptable,
            "comment": ranking.comment,
            "seconds_spent": ranking.seconds_spent,
            "submitted_at": DATETIME.to_representation(ranking.submitted_at),
            "items": [
                {
                    "response": item.response,
                    "rank": item.rank,
                    "likert": item.likert,
                    "flags": item.flags,
                }
                for item in ranking.items
            ],
        }


class DemonstrationSerializer(serializers.ModelSerializer):
    prompt = ScopedPrimaryKeyField(Prompt, "project", role="labeler")
    author = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True
    )
    reviewed_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, allow_null=True
    )
    seconds_spent = serializers.FloatField(required=False)

    class Meta:
        model = Demonstration
        fields = [
            "id", "prompt", "author", "text", "status", "review_note", "reviewed_by",
            "reviewed_at", "seconds_spent", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "review_note", "reviewed_at", "created_at"]
        # the rules (one per author and prompt, the length limit, the time's range) are the
        # service's
        extra_kwargs = {"text": {"trim_whitespace": False, "allow_blank": True}}


class ReviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[DemonstrationStatus.ACCEPTED, DemonstrationStatus.REJECTED]
    )
    review_note = serializers.CharField(required=False, allow_blank=True, default="")


# --- export options: one field per ExportOptions field (labeling/outputs/options.py) ---------


def export_option_field(spec: export_options.OptionSpec) -> serializers.Field:
    """An option's API field: its type, allowed values and help. No default: an option left
    out is left to ExportOptions, whose default is the kind's."""
    kinds = [kind for kind in export_options.KINDS if spec in export_options.option_specs(kind)]
    help_text = spec.help
    if len(kinds) < len(export_options.KINDS):
        help_text += f" ({' and '.join(kinds)} only)"
    common = {"required": False, "allow_null": spec.nullable, "help_text": help_text}
    if spec.type is bool:
        field = serializers.BooleanField(**common)
        field.default_empty_html = empty  # left out of a query string: not given, not false
        return field
    if spec.type is float:
        low, high = spec.bounds or (None, None)
        return serializers.FloatField(min_value=low, max_value=high, **common)
    if spec.type is int:
        low, high = spec.bounds or (None, None)
        return serializers.IntegerField(min_value=low, max_value=high, **common)
    if spec.type == export_options.IDS:
        return serializers.ListField(
            child=serializers.IntegerField(min_value=1), allow_empty=False, **common
        )
    return serializers.ChoiceField(choices=spec.choices, **common)


def export_option_fields() -> dict[str, serializers.Field]:
    """The options of every kind: which ones a kind takes is the service's to check."""
    return {spec.name: export_option_field(spec) for spec in export_options.option_specs()}


class ExportOptionsSerializer(serializers.Serializer):
    """Export options as a JSON object (snapshot and job bodies); read back as stored."""

    def get_fields(self):
        return export_option_fields()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["not an export option"] for name in unknown}
                )
        return super().to_internal_value(data)

    def to_representation(self, instance):
        return dict(instance)


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
    snapshot_options = ExportOptionsSerializer(
        required=False, write_only=True, help_text="Export options when a snapshot is frozen."
    )
    pretrain_corpus = ScopedPrimaryKeyField(
        PretrainingCorpus, "project", role="reviewer", required=False, allow_null=True,
        help_text="PPO-ptx: the pretraining corpus mixed in with weight config.ptx_coef (> 0).",
    )  # fmt: skip
    metrics = serializers.SerializerMethodField(
        help_text="The metric series: one object a step, {step, name: value, ...}."
    )
    alarms = serializers.SerializerMethodField(
        help_text="PPO's reward-hacking alarms: {step, kind (length | kl | over_optimisation "
        "| stopped), value, message}."
    )
    created_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, allow_null=True
    )

    class Meta:
        model = TrainingJob
        fields = [
            "id", "project", "kind", "status", "config", "snapshot", "demonstrations_snapshot",
            "base_checkpoint", "reward_checkpoint", "snapshot_options", "pretrain_corpus",
            "output_checkpoint", "rerun_of", "progress", "attempts", "resumed_from_step",
            "heartbeat_at", "metrics", "alarms", "log_tail", "worker", "error", "created_by",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = [
            "id", "status", "demonstrations_snapshot", "output_checkpoint", "rerun_of",
            "progress", "attempts", "resumed_from_step",
            "heartbeat_at", "log_tail", "worker", "error", "created_by", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_metrics(self, job):
        return job.metric_series()

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_alarms(self, job):
        return job.alarms()

    def validate_config(self, value):
        return json_object(value)


class SnapshotSerializer(serializers.ModelSerializer):
    project = ScopedSlugField(role="labeler")
    options = ExportOptionsSerializer(
        required=False,
        help_text="Export options of the kind; a snapshot shows them all, resolved.",
    )
    created_by = serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, allow_null=True
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
        if value not in export_options.KINDS:
            raise serializers.ValidationError(f"only {', '.join(export_options.KINDS)}")
        return value


class ExportQuerySerializer(serializers.Serializer):
    """Query parameters of an export download: the file's shape, and the export options."""

    project = serializers.SlugField()
    file_format = serializers.ChoiceField(choices=["jsonl", "parquet"], default="jsonl")
    gzip = serializers.BooleanField(default=False)

    def get_fields(self):
        return super().get_fields() | export_option_fields()

    def validate(self, attrs):
        """The export options apart (those given only), as the service takes them."""
        names = {spec.name for spec in export_options.option_specs()}
        options = {name: attrs.pop(name) for name in list(attrs) if name in names}
        return attrs | {"options": options}


class AgreementQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    category = serializers.ChoiceField(choices=Prompt.Category.choices, required=False)
    split = serializers.ChoiceField(choices=SPLITS, required=False)
