from django.contrib import admin, messages

from labeling import roles

from . import lifecycle
from .models import Checkpoint, DatasetSnapshot, PretrainingCorpus, TrainingJob


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "n_rows", "content_hash", "created_at"]
    list_filter = ["kind", "project"]
    search_fields = ["content_hash", "path"]

    def has_change_permission(self, request, obj=None):
        return False  # snapshots are immutable: jobs must reproduce byte for byte


@admin.register(PretrainingCorpus)
class PretrainingCorpusAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "name", "source", "n_rows", "created_at"]
    list_filter = ["source", "project"]
    search_fields = ["name", "origin", "content_hash"]

    def has_add_permission(self, request):
        return False  # imported (and checked row by row) by `manage.py import_corpus`

    def has_change_permission(self, request, obj=None):
        return False  # PPO-ptx jobs must read what was imported


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "kind", "parent", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]
    readonly_fields = ["metrics", "created_at"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    """Jobs are read here and moved only by the lifecycle's services: cancel and retry are
    actions; nothing is edited (a stale form must never overwrite a status)."""

    list_display = [
        "id", "project", "kind", "status", "attempts", "progress", "worker", "created_at",
    ]  # fmt: skip
    list_filter = ["kind", "status", "project"]
    search_fields = ["worker", "error", "log_tail"]
    actions = ["cancel_jobs", "retry_jobs"]
    readonly_fields = ["metric_series"]

    def has_add_permission(self, request):
        return False  # jobs are validated and queued by `manage.py train` or the API

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="metrics (one row a step)")
    def metric_series(self, obj):
        return "\n".join(str(row) for row in obj.metric_series()[-50:])

    @admin.action(description="Cancel the selected jobs", permissions=["view"])
    def cancel_jobs(self, request, queryset):
        self._move(request, queryset, lifecycle.cancel, "cancelled")

    @admin.action(description="Retry the selected jobs (they resume)", permissions=["view"])
    def retry_jobs(self, request, queryset):
        self._move(request, queryset, lifecycle.retry, "queued again")

    def _move(self, request, queryset, transition, done):
        moved = 0
        for job in queryset.select_related("project"):
            if not roles.has_role(request.user, job.project, "admin"):
                self.message_user(
                    request, f"job {job.pk}: you are not an admin of {job.project.slug}",
                    messages.ERROR,
                )  # fmt: skip
                continue
            try:
                transition(job)
                moved += 1
            except lifecycle.TransitionError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        if moved:
            self.message_user(request, f"{moved} job(s) {done}", messages.SUCCESS)
