"""REST API: pipelines (InstructGPT's loop as one record) and retraining schedules.

Thin callers of ``pipelines.service`` and ``pipelines.retraining``: reviewers of a project
read, its admins start, cancel and resume pipelines and write schedules. A pipeline started
here has no command polling it: beat's ``pipelines.advance_running`` moves it on (every
30 s); the first stage is started at once.
"""

import django_filters as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response as ApiResponse

from pipelines import retraining, service
from pipelines.models import Pipeline, RetrainingSchedule
from training.job_requests import start_pipeline

from . import filters as api_filters
from . import permissions
from . import pipeline_serializers as ps
from .views import BaseViewSet


class PipelineFilter(api_filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = Pipeline
        fields = ["project", "status", "mode"]


class ScheduleFilter(api_filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug")

    class Meta:
        model = RetrainingSchedule
        fields = ["project", "kind", "enabled"]


@extend_schema_view(
    list=extend_schema(summary="Pipelines of the caller's projects (reviewers and admins)"),
    retrieve=extend_schema(summary="A pipeline and its stages (reviewers and admins)"),
    create=extend_schema(
        summary="Start a pipeline; its first stage's job is queued at once (project admins)",
        request=ps.PipelineCreateSerializer,
        responses={201: ps.PipelineSerializer},
    ),
)
class PipelineViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    permission_classes = [permissions.IsReviewerSomewhere]
    serializer_class = ps.PipelineSerializer
    filterset_class = PipelineFilter

    def scoped(self):
        queryset = Pipeline.objects.select_related("project", "created_by").prefetch_related(
            "stages"
        )
        return permissions.in_projects(queryset, self.request, "reviewer")

    def create(self, request, *args, **kwargs):
        given = ps.PipelineCreateSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        given.is_valid(raise_exception=True)
        data = given.validated_data
        permissions.require_role(request, data["project"], "admin", "start pipelines")
        pipeline = start_pipeline(data, request.user)  # its first job enqueued after commit
        return ApiResponse(self._shown(pipeline), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a running pipeline and its running stage's job (project admins)",
        request=None,
        responses={200: ps.PipelineSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        pipeline = self.get_object()
        permissions.require_role(request, pipeline.project, "admin", "cancel pipelines")
        return ApiResponse(self._shown(service.cancel_pipeline(pipeline, user=request.user)))

    @extend_schema(
        summary="Resume a failed pipeline from its failed stage; its job is retried (project "
        "admins)",
        request=None,
        responses={200: ps.PipelineSerializer},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        pipeline = self.get_object()
        permissions.require_role(request, pipeline.project, "admin", "resume pipelines")
        pipeline = service.advance(service.resume_pipeline(pipeline))
        return ApiResponse(self._shown(pipeline))

    def _shown(self, pipeline):
        # fresh from the database, stages included (the prefetch of get_object is stale)
        return self.get_serializer(self.scoped().get(pk=pipeline.pk)).data


@extend_schema_view(
    list=extend_schema(summary="Retraining schedules of the caller's projects (reviewers)"),
    retrieve=extend_schema(summary="A retraining schedule (reviewers)"),
    create=extend_schema(summary="Add a retraining schedule and its beat task (project admins)"),
    update=extend_schema(summary="Replace a retraining schedule (project admins)"),
    partial_update=extend_schema(summary="Change a retraining schedule (project admins)"),
    destroy=extend_schema(summary="Delete a retraining schedule and its beat task (admins)"),
)
class RetrainingScheduleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    BaseViewSet,
):
    permission_classes = [permissions.IsReviewerSomewhere]
    serializer_class = ps.RetrainingScheduleSerializer
    filterset_class = ScheduleFilter

    def scoped(self):
        queryset = RetrainingSchedule.objects.select_related(
            "project", "periodic_task", "periodic_task__interval", "periodic_task__crontab"
        )
        return permissions.in_projects(queryset, self.request, "reviewer")

    def perform_create(self, serializer):
        data = serializer.validated_data
        permissions.require_role(self.request, data["project"], "admin", "schedule retraining")
        serializer.instance = retraining.save_schedule(RetrainingSchedule(**data))

    def perform_update(self, serializer):
        schedule = serializer.instance
        permissions.require_role(self.request, schedule.project, "admin", "change schedules")
        data = serializer.validated_data
        if "project" in data:
            permissions.require_role(self.request, data["project"], "admin", "schedule retraining")
        for name, value in data.items():
            setattr(schedule, name, value)
        serializer.instance = retraining.save_schedule(schedule)

    def perform_destroy(self, instance):
        permissions.require_role(self.request, instance.project, "admin", "delete schedules")
        retraining.delete_schedule(instance)
