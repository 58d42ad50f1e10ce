"""django-filter FilterSets: every list filters by project slug plus its own fields."""

import django_filters as filters
from django.contrib.auth import get_user_model
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from labeling.models import Demonstration, Prompt, Ranking, RankingTask, Response
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

USERNAME = get_user_model().USERNAME_FIELD


class FilterBackend(DjangoFilterBackend):
    """django-filter, refusing NUL characters (PostgreSQL cannot compare text with them,
    so the query would fail with a 500 instead of matching nothing)."""

    def filter_queryset(self, request, queryset, view):
        for name, values in request.query_params.lists():
            if any("\x00" in value for value in values):
                raise ValidationError({name: ["must not contain NUL characters"]})
        return super().filter_queryset(request, queryset, view)


class PromptFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = Prompt
        fields = ["project", "split", "category", "source_user", "external_id"]


class ResponseFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="prompt__project__slug")
    # a checkpoint by id, as before: an unknown id is a 400, not an empty page
    checkpoint = filters.ModelChoiceFilter(
        field_name="checkpoint_id", queryset=Checkpoint.objects.all(), method="filter_checkpoint"
    )

    class Meta:
        model = Response
        fields = ["project", "prompt", "origin", "model_name", "checkpoint"]

    @extend_schema_field(OpenApiTypes.INT)
    def filter_checkpoint(self, queryset, name, value):
        # Response.checkpoint_id is a plain column (labeling has no foreign key into training)
        return queryset.filter(**{name: value.pk})


class TaskFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    is_gold = filters.BooleanFilter(method="filter_gold")

    class Meta:
        model = RankingTask
        fields = ["project", "prompt", "source", "k", "is_gold"]

    def filter_gold(self, queryset, name, value):
        # Only reviewers may ask which tasks are gold: for anyone else the filter is
        # confined to nothing, so it reveals nothing.
        from .permissions import project_ids

        if value is None:
            return queryset
        queryset = queryset.filter(is_gold=value)
        if self.request.user.is_superuser:
            return queryset
        return queryset.filter(project__in=project_ids(self.request, "reviewer"))


class RankingFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="task__project__slug")
    labeler = filters.CharFilter(field_name=f"labeler__{USERNAME}")

    class Meta:
        model = Ranking
        fields = ["project", "task", "labeler", "is_current"]


class DemonstrationFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="prompt__project__slug")
    author = filters.CharFilter(field_name=f"author__{USERNAME}")

    class Meta:
        model = Demonstration
        fields = ["project", "prompt", "status", "author"]


class CheckpointFilter(filters.FilterSet):
    class Meta:
        model = Checkpoint
        fields = ["kind", "parent", "snapshot"]


class TrainingJobFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = TrainingJob
        fields = ["project", "kind", "status"]


class SnapshotFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = DatasetSnapshot
        fields = ["project", "kind", "content_hash"]
