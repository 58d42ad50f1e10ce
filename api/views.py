"""REST API views (``/api/v1/``): thin callers of labeling/ and training/ modules.

Errors keep one shape: a 400 body maps the offending field to its messages
(``{"items": ["ranks: expected 4 ranks, got 3"]}``), as DRF's own validation does; the
plain modules raise ``ValueError("field: message")`` and ``field_error`` turns that into
the same shape. 401/403/404 bodies are DRF's ``{"detail": ...}``.
"""

import os
import tempfile

from django.db import connection, transaction
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import (
    action,
    api_view,
    authentication_classes,
    permission_classes,
)
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from labeling import assignment as assignments
from labeling import exports, roles
from labeling.assignment_sql import project_by_slug, task_with_responses
from labeling.export_formats import jsonl_chunks, write_parquet
from labeling.importers import PromptBook, SkipRow
from labeling.models import (
    Assignment,
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingTask,
    Response,
)
from labeling.ranking_tasks import create_ranking_task
from labeling.rankings import ItemInput
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

from . import filters, permissions
from . import serializers as s


@extend_schema(
    summary="Liveness: the database answers (no authentication)",
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request):
    """Liveness for load balancers and docker-compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


def field_error(exc: Exception, default_field: str = "non_field_errors") -> dict:
    """``ValueError("field: message")`` from a plain module as DRF's error shape."""
    text = str(exc)
    name, sep, message = text.partition(": ")
    if not sep or " " in name or not name:
        return {default_field: [text]}
    return {name: [message]}


class IdCursorPagination(CursorPagination):
    """Cursor pagination on the primary key: stable under inserts, O(1) per page."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 1000


class BaseViewSet(viewsets.GenericViewSet):
    pagination_class = IdCursorPagination
    filter_backends = [filters.FilterBackend]

    def get_queryset(self):
        # The schema generator calls this with no user: give it the model, not a query.
        if getattr(self, "swagger_fake_view", False):
            return self.serializer_class.Meta.model.objects.none()
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
            except (ValueError, SkipRow) as exc:
                errors.append(exc.args[0] if isinstance(exc.args[0], dict) else field_error(exc))
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
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filterset_fields = ["slug"]

    def scoped(self):
        return roles.projects_for(self.request.user, "labeler").order_by("id")

    def perform_create(self, serializer):
        if not self.request.user.is_superuser:
            raise PermissionDenied("Only superusers create projects.")
        serializer.save()

    def perform_update(self, serializer):
        permissions.require_role(self.request, serializer.instance, "admin", "change it")
        serializer.save()

    @extend_schema(
        summary="Inter-labeler agreement of the project (reviewers)",
        parameters=[s.AgreementQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def agreement(self, request, slug=None):
        from labeling import agreement

        project = self.get_object()
        permissions.require_role(request, project, "reviewer", "see agreement")
        query = s.AgreementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            document = agreement.project_agreement(project, **query.validated_data)
        except ValueError as exc:
            raise ValidationError(field_error(exc)) from exc
        return ApiResponse(document)


# --- prompts and responses -------------------------------------------------------------


def _create_prompt(item, books):
    project = item["project"]
    book = books.setdefault(project.pk, PromptBook(project))
    try:
        prompt, _ = book.get_or_create(
            item.get("text", ""),
            item.get("messages") or None,
            source_user=item.get("source_user", ""),
            category=item.get("category", "other"),
            external_id=item.get("external_id", ""),
            metadata=item.get("metadata") or {},
            reuse_identical=False,
        )
    except SkipRow as skip:
        if skip.reason == "capped":
            return _raise(
                "source_user",
                f"already has {project.prompt_cap_per_user} prompts (the per-user cap)",
            )
        return _raise("text", "duplicates a prompt of this project (same id or prefix)")
    return prompt


def _raise(name, message):
    raise ValueError({name: [message]})


@extend_schema_view(
    list=extend_schema(summary="Prompts of the caller's projects"),
    create=extend_schema(
        summary="Create one prompt or a list of them (project admins); one transaction",
        request=s.PromptSerializer(many=True),
        responses={201: s.PromptSerializer(many=True)},
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
    from labeling import dedup

    prompt = item["prompt"]
    text_hash = dedup.text_hash(item["text"])
    key = (prompt.pk, text_hash)
    if key in state or Response.objects.filter(prompt=prompt, text_hash=text_hash).exists():
        _raise("text", "this prompt already has this response")
    state[key] = True
    return Response.objects.create(
        prompt=prompt,
        text=item["text"],
        text_hash=text_hash,
        origin=item.get("origin", Response.Origin.MODEL),
        model_name=item.get("model_name", ""),
        checkpoint=item.get("checkpoint"),
        metadata=item.get("metadata") or {},
    )


@extend_schema_view(
    list=extend_schema(summary="Candidate responses (reviewers and admins)"),
    create=extend_schema(
        summary="Create one response or a list of them (project admins); one transaction",
        request=s.ResponseSerializer(many=True),
        responses={201: s.ResponseSerializer(many=True)},
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


# --- ranking tasks -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Tasks: all of a reviewer's projects, or those assigned to a labeler"
    ),
)
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    serializer_class = s.RankingTaskSerializer
    filterset_class = filters.TaskFilter

    def scoped(self):
        queryset = RankingTask.objects.select_related("project")
        if self.action not in ("submit", "skip"):  # those only need the row
            queryset = queryset.select_related("prompt").prefetch_related(
                "task_responses__response"
            )
        return permissions.visible_tasks(queryset, self.request)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        request = self.request
        if request.user.is_superuser:
            context["sees_gold"] = lambda project_id: True
        else:
            context["sees_gold"] = lambda project_id: (
                project_id in permissions.project_ids(request, "reviewer")
            )
        return context

    @extend_schema(
        summary="Create a task from a prompt and its responses (reviewers)",
        request=s.TaskCreateSerializer,
        responses={201: s.RankingTaskSerializer},
    )
    def create(self, request):
        serializer = s.TaskCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project, prompt = data["project"], data["prompt"]
        permissions.require_role(request, project, "reviewer", "create tasks")
        if prompt.project_id != project.pk:
            raise ValidationError({"prompt": ["belongs to another project"]})
        by_id = {r.pk: r for r in Response.objects.filter(pk__in=data["responses"], prompt=prompt)}
        missing = [pk for pk in data["responses"] if pk not in by_id]
        if missing:
            raise ValidationError(
                {"responses": [f"response {missing[0]} does not answer this prompt"]}
            )
        try:
            task = create_ranking_task(
                project,
                prompt,
                [by_id[pk] for pk in data["responses"]],
                overlap=data.get("overlap"),
                is_gold=data["is_gold"],
                gold_ranks=data.get("gold_ranks"),
            )
        except ValueError as exc:
            raise ValidationError(field_error(exc)) from exc
        task = self.get_queryset().get(pk=task.pk)
        return ApiResponse(self.get_serializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The calling labeler's next task (their open one, else a new lease)",
        request=s.NextSerializer,
        responses={
            200: s.NextAssignmentSerializer,
            204: OpenApiResponse(description="No task is available for you now."),
        },
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def next(self, request):
        serializer = s.NextSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["project"]
        # Membership is checked by the engine, in the statement that locks the labeler; a
        # project they are not in reads as missing, as it would to the scoped field.
        project = project_by_slug(slug)
        try:
            if project is None:
                raise assignments.NotAMember(slug)
            held = assignments.next_assignment(project, request.user)
        except assignments.NotAMember as exc:
            raise ValidationError(
                {"project": [f"Object with slug={slug} does not exist."]}
            ) from exc
        if held is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        task = task_with_responses(held.task_id)
        task.project = project
        body = {
            "assignment": held,
            "task": task,
            "display_order": assignments.display_order(task, request.user),
        }
        # Labeling is blind for every role: no context, so gold is never revealed here.
        return ApiResponse(s.NextAssignmentSerializer(body).data)

    def _held(self, request, pk):
        """The caller's assignment of task ``pk`` with its task and project, in one query;
        else what ``_assignment`` says (404 for a task the caller cannot see, 400 for one
        they hold no assignment of). Holding one makes the task visible to them."""
        if str(pk).isdigit():
            held = (
                Assignment.objects.select_related("task__project")
                .filter(task_id=int(pk), labeler=request.user)
                .first()
            )
            if held is not None:
                return held
        return self._assignment(request)

    def _assignment(self, request):
        task = self.get_object()
        held = Assignment.objects.filter(task=task, labeler=request.user).first()
        if held is None:
            raise ValidationError(
                {"assignment": ["you hold no assignment for this task; ask for next first"]}
            )
        held.task = task
        return held

    @extend_schema(
        summary="Submit the caller's ranking of an assigned task (idempotent with submission_key)",
        request=s.SubmitSerializer,
        responses={201: s.RankingSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def submit(self, request, pk=None):
        serializer = s.SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        items = [
            ItemInput(rank=i["rank"], likert=i.get("likert"), flags=list(i.get("flags") or []))
            for i in data["items"]
        ]
        options = {
            "submission_key": data["submission_key"],
            "comment": data["comment"],
            "seconds_spent": data["seconds_spent"],
            "all_unacceptable": data["all_unacceptable"],
        }
        try:
            ranking = None
            if str(pk).isdigit():  # the caller's assignment of this task, found while locking it
                ranking = assignments.submit_task(int(pk), request.user, items, **options)
            if ranking is None:  # 404 for a task they cannot see, else 400: nothing to submit
                ranking = assignments.submit_ranking(
                    self._assignment(request), request.user, items, **options
                )
        except ValueError as exc:
            raise ValidationError(field_error(exc, "items")) from exc
        written = getattr(ranking, "written_items", None)
        if written is not None:
            # Just written: show it back without reading it again (labeler = the caller).
            items = ranking.items.all()
            items._result_cache = sorted(written, key=lambda item: (item.rank, item.pk))
            items._prefetch_done = True
            ranking._prefetched_objects_cache = {"items": items}
        else:  # an earlier submit of the same assignment or key
            ranking = (
                Ranking.objects.select_related("labeler")
                .prefetch_related("items")
                .get(pk=ranking.pk)
            )
        return ApiResponse(s.RankingSerializer(ranking).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Give an assigned task back, with a reason",
        request=s.SkipSerializer,
        responses={200: s.AssignmentSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def skip(self, request, pk=None):
        serializer = s.SkipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        held = self._held(request, pk)
        try:
            held = assignments.skip_assignment(
                held, request.user, serializer.validated_data["reason"]
            )
        except ValueError as exc:
            raise ValidationError(field_error(exc, "reason")) from exc
        return ApiResponse(s.AssignmentSerializer(held).data)


# --- rankings and demonstrations ---------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Rankings: a labeler's own, or all of a reviewer's projects")
)
class RankingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
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
        serializer.save(author=self.request.user)

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
        demo.status = serializer.validated_data["status"]
        demo.review_note = serializer.validated_data["review_note"]
        demo.reviewed_by = request.user
        demo.reviewed_at = timezone.now()
        demo.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
        return ApiResponse(self.get_serializer(demo).data)


# --- training ----------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Model checkpoints (reviewers and admins)"))
class CheckpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """Checkpoints belong to the platform, not to one project."""

    serializer_class = s.CheckpointSerializer
    filterset_class = filters.CheckpointFilter
    permission_classes = [permissions.IsReviewerSomewhere]

    def scoped(self):
        return Checkpoint.objects.all()


@extend_schema_view(
    list=extend_schema(summary="Training jobs of the caller's projects (reviewers and admins)"),
    create=extend_schema(summary="Queue a training job (project admins)"),
)
class TrainingJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    permission_classes = [permissions.IsReviewerSomewhere]
    serializer_class = s.TrainingJobSerializer
    filterset_class = filters.TrainingJobFilter

    def scoped(self):
        queryset = TrainingJob.objects.select_related("project", "created_by")
        return permissions.in_projects(queryset, self.request, "reviewer")

    def perform_create(self, serializer):
        from training import jobs

        data = serializer.validated_data
        permissions.require_role(self.request, data["project"], "admin", "start training jobs")
        try:
            # validates the config against the engine, freezes the data, enqueues on commit
            serializer.instance = jobs.create_job(
                data["project"],
                data["kind"],
                data.get("config") or {},
                base=data.get("base_checkpoint"),
                reward=data.get("reward_checkpoint"),
                snapshot=data.get("snapshot"),
                snapshot_options=data.get("snapshot_options"),
                user=self.request.user,
            )
        except ValueError as exc:  # JobError / ExportError name their field
            raise ValidationError(field_error(exc)) from exc


@extend_schema_view(
    list=extend_schema(summary="Frozen dataset snapshots (reviewers and admins)"),
    create=extend_schema(summary="Freeze an export as a content-hashed snapshot (project admins)"),
)
class SnapshotViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    permission_classes = [permissions.IsReviewerSomewhere]
    serializer_class = s.SnapshotSerializer
    filterset_class = filters.SnapshotFilter

    def scoped(self):
        queryset = DatasetSnapshot.objects.select_related("project", "created_by")
        return permissions.in_projects(queryset, self.request, "reviewer")

    def create(self, request, *args, **kwargs):
        from training.snapshots import create_snapshot

        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        permissions.require_role(request, data["project"], "admin", "freeze snapshots")
        try:
            snapshot = create_snapshot(
                data["project"], data["kind"], data.get("options") or {}, created_by=request.user
            )
        except exports.ExportError as exc:
            raise ValidationError({"options": field_error(exc)}) from exc
        return ApiResponse(self.get_serializer(snapshot).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The snapshot's rows as JSONL (the exact frozen bytes)",
        responses={(200, "application/jsonl"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def download(self, request, pk=None):
        from training.snapshots import data_path

        snapshot = self.get_object()
        path = data_path(snapshot)
        if not path.exists():
            raise ValidationError({"path": ["the snapshot's files are missing on this server"]})
        return FileResponse(
            open(path, "rb"),
            as_attachment=True,
            filename=f"{snapshot.kind}-{snapshot.content_hash[:12]}.jsonl",
            content_type="application/jsonl",
        )


# --- exports ----------------------------------------------------------------------------

EXPORT_PARAMETERS = [
    OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(exports.KINDS)),
    OpenApiParameter("project", str, required=True, description="project slug"),
    OpenApiParameter("file_format", str, enum=["jsonl", "parquet"], default="jsonl"),
    OpenApiParameter("gzip", bool, description="gzip the JSONL"),
    OpenApiParameter("split", str, enum=list(exports.SPLITS)),
    OpenApiParameter("conversational", bool),
    OpenApiParameter("consensus", bool, description="comparisons/rankings"),
    OpenApiParameter("min_agreement", float, description="comparisons/rankings"),
    OpenApiParameter("include_gold", bool, description="comparisons/rankings"),
    OpenApiParameter("status", str, enum=list(exports.DEMONSTRATION_STATUSES)),
    OpenApiParameter("style", str, enum=list(exports.DEMONSTRATION_STYLES)),
]


def _stream_file(path):
    """Yield a temporary file's bytes, then delete it."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk
    finally:
        os.unlink(path)


class ExportView(APIView):
    """Stream an export (reviewers and admins): JSONL row by row, never whole in memory."""

    @extend_schema(
        summary="Download an export: comparisons, rankings or demonstrations",
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "application/jsonl"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, kind):
        if kind not in exports.KINDS:
            raise ValidationError({"kind": [f"{kind!r} is not one of {', '.join(exports.KINDS)}"]})
        query = s.ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        visible = permissions.in_projects(
            Project.objects.all(), request, "labeler", project_path="pk"
        )
        project = get_object_or_404(visible, slug=data["project"])
        permissions.require_role(request, project, "reviewer", "export")
        given = set(request.query_params) - {"project", "file_format", "gzip"}
        options = {name: data[name] for name in given if name in data}
        try:
            options = exports.resolve_options(kind, project, options)
        except exports.ExportError as exc:
            raise ValidationError(field_error(exc)) from exc
        rows = exports.ROW_GENERATORS[kind](project, **options)
        stem = f"{project.slug}-{kind}"
        if data["file_format"] == "parquet":
            # Parquet's footer comes last, so it is written to a temporary file (batch by
            # batch, bounded memory) and streamed from there.
            handle, path = tempfile.mkstemp(suffix=".parquet")
            os.close(handle)
            try:
                write_parquet(rows, path, exports.arrow_schema(kind, options))
            except BaseException:
                os.unlink(path)
                raise
            response = StreamingHttpResponse(
                _stream_file(path), content_type="application/vnd.apache.parquet"
            )
            filename = f"{stem}.parquet"
        else:
            response = StreamingHttpResponse(
                jsonl_chunks(rows, gzip=data["gzip"]),
                content_type="application/gzip" if data["gzip"] else "application/jsonl",
            )
            filename = f"{stem}.jsonl" + (".gz" if data["gzip"] else "")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
