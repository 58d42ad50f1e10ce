"""REST API: checkpoints, training jobs, dataset snapshots and streamed exports."""

import os
import tempfile

from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from labeling.models import Project
from labeling.outputs import exports
from labeling.outputs.export_formats import jsonl_chunks, write_parquet
from labeling.outputs.options import KINDS as EXPORT_KINDS
from labeling.outputs.options import ExportError, parse_options
from training import lifecycle
from training.models import Checkpoint, DatasetSnapshot, TrainingJob

from . import filters, permissions
from . import serializers as s
from .views import BaseViewSet

# --- training ----------------------------------------------------------------------------

# its body is the shared {field: [messages]} (api/schema.py)
CONFLICT = OpenApiResponse(description="The job's status does not allow this now.")


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
        queryset = TrainingJob.objects.select_related("project", "created_by").prefetch_related(
            "metric_rows"
        )
        return permissions.in_projects(queryset, self.request, "reviewer")

    @extend_schema(
        summary="Cancel a queued or running job (project admins)",
        request=None,
        responses={200: s.TrainingJobSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._move(lifecycle.cancel, "cancel jobs")

    @extend_schema(
        summary="Run a failed or cancelled job again; it resumes (project admins)",
        request=None,
        responses={200: s.TrainingJobSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._move(lifecycle.retry, "retry jobs")

    @extend_schema(
        summary="A new job from this one's record: same kind, config, checkpoints and frozen "
        "snapshots, so the same inputs (project admins)",
        request=None,
        responses={201: s.TrainingJobSerializer},
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        from training import jobs

        job = self.get_object()
        permissions.require_role(request, job.project, "admin", "re-run jobs")
        rerun = jobs.rerun_job(job, user=request.user)  # a JobError is a 400 naming its field
        return ApiResponse(self.get_serializer(rerun).data, status=status.HTTP_201_CREATED)

    def _move(self, transition, action):
        job = self.get_object()
        permissions.require_role(self.request, job.project, "admin", action)
        try:
            transition(job)
        except lifecycle.TransitionError as exc:
            return ApiResponse(exc.as_dict(), status=status.HTTP_409_CONFLICT)
        return ApiResponse(self.get_serializer(self.get_object()).data)

    def perform_create(self, serializer):
        from training.job_requests import start_job

        data = serializer.validated_data
        permissions.require_role(self.request, data["project"], "admin", "start training jobs")
        try:
            # validates the config against the engine, freezes the data, enqueues on commit
            serializer.instance = start_job(data, self.request.user)
        except ExportError as exc:  # an option the kind does not take, under its body field
            raise ValidationError({"snapshot_options": exc.as_dict()}) from exc


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
        except ExportError as exc:  # an option the kind does not take, under its body field
            raise ValidationError({"options": exc.as_dict()}) from exc
        return ApiResponse(self.get_serializer(snapshot).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The snapshot's rows as JSONL (the exact frozen bytes)",
        responses={
            (200, "application/jsonl"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="The snapshot's files are missing on this server."),
        },
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
    OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(EXPORT_KINDS)),
    s.ExportQuerySerializer,  # one query parameter per field, export options included
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
        summary="Download an export: comparisons, rankings, demonstrations or prompts",
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "application/jsonl"): OpenApiTypes.BINARY,
            (200, "application/gzip"): OpenApiTypes.BINARY,  # gzip=true
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, kind):
        query = s.ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        # a bad kind, or an option the kind does not take: ExportError, a 400 naming it
        options = parse_options(kind, data["options"])
        visible = permissions.in_projects(
            Project.objects.all(), request, "labeler", project_path="pk"
        )
        project = get_object_or_404(visible, slug=data["project"])
        permissions.require_role(request, project, "reviewer", "export")
        options = exports.resolve_options(kind, project, options)
        rows = exports.export_rows(kind, project, options)
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
