"""REST API: ranking tasks and the labeling round (`next`, submit, skip)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse

from labeling.assignment import engine as assignments
from labeling.assignment.rankings import ItemInput
from labeling.assignment.sql import project_by_slug, task_record
from labeling.intake import ranking_tasks
from labeling.models import Assignment, RankingTask

from . import filters, permissions
from . import serializers as s
from .views import BaseViewSet


@extend_schema_view(
    list=extend_schema(
        summary="Tasks: all of a reviewer's projects, or those assigned to a labeler"
    ),
)
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    model = RankingTask
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
        task = ranking_tasks.create_ranking_task(
            project,
            prompt,
            ranking_tasks.responses_of(prompt, data["responses"]),
            overlap=data.get("overlap"),
            is_gold=data["is_gold"],
            gold_ranks=data.get("gold_ranks"),
        )
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
        task = task_record(held.task_id)
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
        # a refusal is a ServiceError naming its field: mapped once (api/exceptions.py)
        ranking = None
        if str(pk).isdigit():  # the caller's assignment of this task, found while locking it
            ranking = assignments.submit_task(int(pk), request.user, items, **options)
        if ranking is None:  # 404 for a task they cannot see, else 400: nothing to submit
            ranking = assignments.submit_ranking(
                self._assignment(request), request.user, items, **options
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
        held = assignments.skip_assignment(held, request.user, serializer.validated_data["reason"])
        return ApiResponse(s.AssignmentSerializer(held).data)
