"""REST API views (``/api/v1/``): thin callers of labeling/ and training/ modules.

Here: health, projects, prompts, responses, rankings, demonstrations, and what every view
shares. Ranking tasks and the labeling round are in ``task_views.py``; checkpoints, jobs,
snapshots and exports in ``training_views.py``.

Errors keep one shape: a 400 body maps the offending field to its messages
(``{"ranks": ["expected 4 ranks, got 3"]}``), as DRF's own validation does. Serializers
only parse; the services raise a typed ``ServiceError(field, message)``, which
``api.exceptions`` maps to that shape in one place (a bulk create answers a list of such
bodies, one per item). 401/403/404 bodies are DRF's ``{"detail": ...}``.
"""

from django.db import connection, transaction
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import (
    action,
    api_view,
    authentication_classes,
    permission_classes,
    throttle_classes,
)
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response as ApiResponse

from labeling import projects, roles
from labeling.assignment import demonstrations
from labeling.errors import ServiceError
from labeling.intake import responses
from labeling.intake.prompts import PromptBook
from labeling.models import Demonstration, Project, Prompt, Ranking, Response

from . import filters, permissions
from . import serializers as s
from .schema import one_or_many


@extend_schema(
    summary="Liveness: the database answers (no authentication)",
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def health(request):
    """Liveness for load balancers and docker-compose: the database answers. Not throttled:
    a probe every second must never read as down."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


class IdCursorPagination(CursorPagination):
    """Cursor pagination on the primary key: stable under inserts, O(1) per page."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        # DRF falls back to the default on a page_size it cannot read; the schema says it is
        # a whole number from 1, so anything else is refused (a larger one is capped)
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        value = given[0].lstrip("0") if len(given) == 1 else ""
        if not (value.isascii() and value.isdigit()):  # also "0", "", "-1" and a repeat
            raise ValidationError({self.page_size_query_param: ["a whole number from 1"]})
        # compared as text first: int() refuses numbers of thousands of digits
        return self.max_page_size if len(value) > 6 else min(int(value), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {"minimum": 1}
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; more than "
                    f"{self.max_page_size} is capped at {self.max_page_size})."
                )
        return parameters


class BaseViewSet(viewsets.GenericViewSet):
    pagination_class = IdCursorPagination
    filter_backends = [filters.FilterBackend]
    # any segment reaches the view, so an id that is not one (1.5) is the API's JSON 404,
    # not the URL resolver's HTML page
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        # The schema generator calls this with no user: give it the model, not a query.
        if getattr(self, "swagger_fake_view", False):
            model = getattr(self, "model", None) or self.serializer_class.Meta.model
            return model.objects.none()
        return self.scoped()

    def scoped(self):
        """The rows the caller may see; every viewset below defines it (no default scope,
        so a forgotten one fails loudly instead of exposing every row)."""
        raise NotImplementedError


def _bulk(request, serializer_class, context, create_one, *, project_of, what):
    """Create one object or a list of them in one transaction; 400 names item and field."""
    data = request.data
    many = isinstance(data, list)
    if many and not 1 <= len(data) <= s.MAX_BULK:
        raise ValidationError({"non_field_errors": [f"send 1 to {s.MAX_BULK} items"]})
    serializer = serializer_class(data=data, many=many, context=context)
    serializer.is_valid(raise_exception=True)
    items = serializer.validated_data if many else [serializer.validated_data]
    for item in items:
        permissions.require_role(request, project_of(item), "admin", f"create {what}")
    errors, created, state = [], [], {}
    with transaction.atomic():
        for item in items:
            try:
                created.append(create_one(item, state))
                errors.append({})
            except ServiceError as exc:
                errors.append(exc.as_dict())
        if any(errors):
            raise ValidationError(errors if many else errors[0])  # rolls the batch back
    out = serializer_class(created, many=True, context=context).data
    return ApiResponse(out if many else out[0], status=status.HTTP_201_CREATED)


# --- projects ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Projects where the caller holds a role"),
    create=extend_schema(summary="Create a project (superusers)"),
    partial_update=extend_schema(summary="Change a project's settings (project admins)"),
    update=extend_schema(summary="Replace a project's settings (project admins)"),
)
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    BaseViewSet,
):
    model = Project
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"
    # Any segment reaches the view, so a slug that cannot exist is the API's JSON 404, not
    # the URL resolver's HTML page; get_object refuses it before it reaches PostgreSQL.
    lookup_value_regex = "[^/]+"
    filterset_fields = ["slug"]

    def scoped(self):
        return roles.projects_for(self.request.user, "labeler").order_by("id")

    def get_object(self):
        if not projects.SLUG.fullmatch(self.kwargs[self.lookup_field]):
            raise NotFound()
        return super().get_object()

    def perform_create(self, serializer):
        if not self.request.user.is_superuser:
            raise PermissionDenied("Only superusers create projects.")
        serializer.instance = projects.create_project(**serializer.validated_data)

    def perform_update(self, serializer):
        permissions.require_role(self.request, serializer.instance, "admin", "change it")
        serializer.instance = projects.update_project(
            serializer.instance, **serializer.validated_data
        )

    @extend_schema(
        summary="Inter-labeler agreement of the project (reviewers)",
        parameters=[s.AgreementQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def agreement(self, request, slug=None):
        from labeling.quality import agreement

        project = self.get_object()
        permissions.require_role(request, project, "reviewer", "see agreement")
        # a plain dict: from a QueryDict DRF reads "since=" as not given, not as invalid
        query = s.AgreementQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return ApiResponse(agreement.project_agreement(project, **query.validated_data))


# --- prompts and responses -------------------------------------------------------------


def _create_prompt(item, books):
    # one book per project for the batch: its prompts count towards the cap and the dedup
    project = item["project"]
    book = books.setdefault(project.pk, PromptBook(project))
    prompt, _ = book.get_or_create(
        item.get("text", ""),
        item.get("messages") or None,
        source_user=item.get("source_user", ""),
        category=item.get("category", "other"),
        external_id=item.get("external_id", ""),
        metadata=item.get("metadata"),
        reuse_identical=False,
    )
    return prompt


@extend_schema_view(
    list=extend_schema(summary="Prompts of the caller's projects"),
    create=extend_schema(
        summary="Create one prompt or a list of them (project admins); one transaction",
        request={"application/json": one_or_many(s.PromptSerializer, s.MAX_BULK)},
        responses={201: one_or_many(s.PromptSerializer, s.MAX_BULK)},
        filters=False,
    ),
)
class PromptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    """Labelers read prompts of their projects (they write demonstrations for them)."""

    serializer_class = s.PromptSerializer
    filterset_class = filters.PromptFilter

    def scoped(self):
        queryset = Prompt.objects.select_related("project")
        return permissions.in_projects(queryset, self.request, "labeler")

    def create(self, request, *args, **kwargs):
        return _bulk(
            request,
            s.PromptSerializer,
            self.get_serializer_context(),
            _create_prompt,
            project_of=lambda item: item["project"],
            what="prompts",
        )


def _create_response(item, state):
    # the batch is one transaction: a text sent twice in it meets the first one in the table
    return responses.add_response(
        item["prompt"],
        item["text"],
        origin=item.get("origin", Response.Origin.MODEL),
        model_name=item.get("model_name", ""),
        checkpoint_id=item.get("checkpoint_id"),
        metadata=item.get("metadata"),
    )


@extend_schema_view(
    list=extend_schema(summary="Candidate responses (reviewers and admins)"),
    create=extend_schema(
        summary="Create one response or a list of them (project admins); one transaction",
        request={"application/json": one_or_many(s.ResponseSerializer, s.MAX_BULK)},
        responses={201: one_or_many(s.ResponseSerializer, s.MAX_BULK)},
        filters=False,
    ),
)
class ResponseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    """Labelers see responses only inside the tasks assigned to them."""

    serializer_class = s.ResponseSerializer
    filterset_class = filters.ResponseFilter

    def scoped(self):
        return permissions.in_projects(
            Response.objects.all(), self.request, "reviewer", project_path="prompt__project"
        )

    def create(self, request, *args, **kwargs):
        return _bulk(
            request,
            s.ResponseSerializer,
            self.get_serializer_context(),
            _create_response,
            project_of=lambda item: item["prompt"].project,
            what="responses",
        )


# --- rankings and demonstrations ---------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Rankings: a labeler's own, or all of a reviewer's projects")
)
class RankingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    model = Ranking
    serializer_class = s.RankingSerializer
    filterset_class = filters.RankingFilter

    def scoped(self):
        queryset = Ranking.objects.select_related("labeler").prefetch_related("items")
        return permissions.visible_to_reviewers_or_owner(
            queryset, self.request, project_path="task__project", owner_path="labeler"
        )


@extend_schema_view(
    list=extend_schema(summary="Demonstrations: a labeler's own, or all of a reviewer's projects"),
    create=extend_schema(summary="Write a demonstration for a prompt of one of your projects"),
)
class DemonstrationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    serializer_class = s.DemonstrationSerializer
    filterset_class = filters.DemonstrationFilter

    def scoped(self):
        queryset = Demonstration.objects.select_related("author", "reviewed_by")
        return permissions.visible_to_reviewers_or_owner(
            queryset, self.request, project_path="prompt__project", owner_path="author"
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = demonstrations.submit_demonstration(
            data["prompt"], self.request.user, data["text"],
            seconds_spent=data.get("seconds_spent", 0.0),
        )  # fmt: skip

    @extend_schema(
        summary="Accept or reject a demonstration (reviewers)",
        request=s.ReviewSerializer,
        responses={200: s.DemonstrationSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def review(self, request, pk=None):
        demo = self.get_object()
        permissions.require_role(request, demo.prompt.project, "reviewer", "review demonstrations")
        serializer = s.ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        demo = demonstrations.review(
            demo, request.user, accept=data["status"] == "accepted", note=data["review_note"]
        )
        return ApiResponse(self.get_serializer(demo).data)
