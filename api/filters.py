"""django-filter FilterSets: every list filters by project slug plus its own fields."""

import django_filters as filters
from django import forms
from django.contrib.auth import get_user_model
from django.db import models
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
        filterset_class = self.get_filterset_class(view, queryset)
        typed = {
            name
            for name, field in (filterset_class.base_filters if filterset_class else {}).items()
            if not isinstance(field, filters.CharFilter)
        }
        for name, values in request.query_params.lists():
            if any("\x00" in value for value in values):
                raise ValidationError({name: ["must not contain NUL characters"]})
            # django-filter reads "status=" as no filter; the schema's enums, numbers and
            # booleans have no empty value, so it is a mistake worth saying
            if name in typed and "" in values:
                raise ValidationError({name: ["must not be empty"]})
        return super().filter_queryset(request, queryset, view)


# A row id as PostgreSQL stores it (bigint); the schema says so, so a larger one is a 400.
ID_RANGE = {"minimum": 1, "maximum": 2**63 - 1}


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    """A whole number, as the schema says (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField


@extend_schema_field({"type": "integer", **ID_RANGE})
class IdFilter(IntegerFilter):
    """A related row by id: an unknown id matches nothing (an empty page), like an id of a
    project the caller cannot see, so the filter never tells which ids exist."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", ID_RANGE["minimum"])
        kwargs.setdefault("max_value", ID_RANGE["maximum"])
        super().__init__(*args, **kwargs)


class BooleanQueryField(forms.Field):
    """``true`` or ``false``, as the schema's boolean is written in a query string (Django's
    NullBooleanField reads anything else as "not given", so a typo silently drops the
    filter)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        spelled = str(value).lower()
        if spelled not in ("true", "false"):
            raise forms.ValidationError("true or false")
        return spelled == "true"


class BooleanFilter(filters.BooleanFilter):
    field_class = BooleanQueryField


class FilterSet(filters.FilterSet):
    """The API's FilterSets: generated filters take the types the schema gives them."""

    FILTER_DEFAULTS = (
        filters.FilterSet.FILTER_DEFAULTS
        | {
            field: {"filter_class": IntegerFilter}
            for field, defaults in filters.FilterSet.FILTER_DEFAULTS.items()
            if defaults.get("filter_class") is filters.NumberFilter
            and issubclass(field, models.IntegerField)
        }
        | {
            models.BooleanField: {"filter_class": BooleanFilter},
            models.ForeignKey: {"filter_class": IdFilter},
        }
    )


class PromptFilter(FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = Prompt
        fields = ["project", "split", "category", "source_user", "external_id"]


class ResponseFilter(FilterSet):
    project = filters.CharFilter(field_name="prompt__project__slug")
    # a checkpoint by id, as before: an unknown id is a 400, not an empty page
    checkpoint = filters.ModelChoiceFilter(
        field_name="checkpoint_id", queryset=Checkpoint.objects.all(), method="filter_checkpoint"
    )

    class Meta:
        model = Response
        fields = ["project", "prompt", "origin", "model_name", "checkpoint"]

    @extend_schema_field({"type": "integer", **ID_RANGE})
    def filter_checkpoint(self, queryset, name, value):
        # Response.checkpoint_id is a plain column (labeling has no foreign key into training)
        return queryset.filter(**{name: value.pk})


class TaskFilter(FilterSet):
    project = filters.CharFilter(field_name="project__slug")
    is_gold = BooleanFilter(method="filter_gold")

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


class RankingFilter(FilterSet):
    project = filters.CharFilter(field_name="task__project__slug")
    labeler = filters.CharFilter(field_name=f"labeler__{USERNAME}")

    class Meta:
        model = Ranking
        fields = ["project", "task", "labeler", "is_current"]


class DemonstrationFilter(FilterSet):
    project = filters.CharFilter(field_name="prompt__project__slug")
    author = filters.CharFilter(field_name=f"author__{USERNAME}")

    class Meta:
        model = Demonstration
        fields = ["project", "prompt", "status", "author"]


class CheckpointFilter(FilterSet):
    class Meta:
        model = Checkpoint
        fields = ["kind", "parent", "snapshot"]


class TrainingJobFilter(FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = TrainingJob
        fields = ["project", "kind", "status"]


class SnapshotFilter(FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = DatasetSnapshot
        fields = ["project", "kind", "content_hash"]
