from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import evaluation_views, pipeline_views, task_views, training_views, views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("projects", views.ProjectViewSet, basename="project")
router.register("prompts", views.PromptViewSet, basename="prompt")
router.register("responses", views.ResponseViewSet, basename="response")
router.register("tasks", task_views.TaskViewSet, basename="task")
router.register("rankings", views.RankingViewSet, basename="ranking")
router.register("demonstrations", views.DemonstrationViewSet, basename="demonstration")
router.register("checkpoints", training_views.CheckpointViewSet, basename="checkpoint")
router.register("jobs", training_views.TrainingJobViewSet, basename="job")
router.register("snapshots", training_views.SnapshotViewSet, basename="snapshot")
router.register("evaluations", evaluation_views.CampaignViewSet, basename="evaluation")
router.register("pipelines", pipeline_views.PipelineViewSet, basename="pipeline")
router.register(
    "retraining-schedules", pipeline_views.RetrainingScheduleViewSet, basename="retraining-schedule"
)

urlpatterns = [
    path("v1/health/", views.health, name="api-health"),
    path("v1/exports/<str:kind>/", training_views.ExportView.as_view(), name="api-export"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
