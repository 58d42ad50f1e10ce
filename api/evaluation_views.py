"""REST API: human evaluation campaigns and their report (reviewers read, admins create).

The report is ``evaluations.report.build_report``'s document, the one the command prints.
Nothing here is served to labelers: their side of a campaign is the ordinary task API,
which never names a model.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse

from evaluations import campaigns, report, scoring
from evaluations.models import Campaign
from training.models import Checkpoint

from . import permissions
from .serializers import ScopedSlugField
from .views import BaseViewSet


class CampaignSerializer(serializers.ModelSerializer):
    project = ScopedSlugField(role="reviewer")
    contestants = serializers.ListField(
        child=serializers.CharField(max_length=220),
        write_only=True,
        help_text="2 to 9 of checkpoint:ID (its answers are sampled) or model:NAME "
        "(the project's imported responses of that model)",
    )
    generation = serializers.DictField(
        required=False, write_only=True, help_text="Generation-job settings, e.g. max_new_tokens."
    )
    state = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "project", "name", "split", "max_prompts", "format", "overlap", "status",
            "error", "created_at", "contestants", "generation", "state",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "error", "created_at", "state"]
        extra_kwargs = {"name": {"validators": []}}  # the service says why a name is refused

    def get_state(self, campaign) -> dict:
        return campaigns.describe(campaign)


class JudgeSerializer(serializers.Serializer):
    judge = serializers.PrimaryKeyRelatedField(
        queryset=Checkpoint.objects.filter(kind="rm"), help_text="A reward-model checkpoint id."
    )


@extend_schema_view(
    list=extend_schema(summary="Evaluation campaigns of the caller's projects (reviewers)"),
    create=extend_schema(summary="Start a blind evaluation campaign (project admins)"),
)
class CampaignViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, BaseViewSet
):
    serializer_class = CampaignSerializer
    permission_classes = [permissions.IsReviewerSomewhere]

    def scoped(self):
        queryset = Campaign.objects.select_related("project")
        return permissions.in_projects(queryset, self.request, "reviewer")

    def get_object(self):
        return campaigns.advance(super().get_object())

    def perform_create(self, serializer):
        data = serializer.validated_data
        permissions.require_role(self.request, data["project"], "admin", "start evaluations")
        serializer.instance = campaigns.create_from_request(
            data["project"], data, user=self.request.user
        )

    @extend_schema(
        summary="The campaign's report: win rates with bootstrap intervals, Bradley–Terry "
        "strengths, Likert and flag rates; judge=rm:ID for a reward model's verdicts",
        parameters=[
            OpenApiParameter("baseline", str, description="contestant name (default: first)"),
            OpenApiParameter("judge", str, description="human (default) or rm:ID"),
            OpenApiParameter("bootstrap", int, description="resamples (default 1000, ≤ 5000)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def report(self, request, pk=None):
        campaign = self.get_object()
        try:
            n_boot = int(request.query_params.get("bootstrap", 1000))
        except ValueError:
            n_boot = 0
        if not 1 <= n_boot <= 5000:
            raise ValidationError({"bootstrap": ["a whole number from 1 to 5000"]})
        document = report.build_report(
            campaign,
            request.query_params.get("baseline"),
            judge=request.query_params.get("judge", "human"),
            n_boot=n_boot,
        )
        return ApiResponse(document)

    @extend_schema(
        summary="Have a reward model score every answer, on a worker (project admins); "
        "then ?judge=rm:ID on the report",
        request=JudgeSerializer,
        responses={202: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def score(self, request, pk=None):
        campaign = self.get_object()
        permissions.require_role(request, campaign.project, "admin", "score evaluations")
        judge = JudgeSerializer(data=request.data)
        judge.is_valid(raise_exception=True)
        checkpoint = judge.validated_data["judge"]
        scoring.queue_scoring(campaign, checkpoint)
        return ApiResponse(
            {"queued": True, "judge": f"rm:{checkpoint.pk}"}, status=status.HTTP_202_ACCEPTED
        )
