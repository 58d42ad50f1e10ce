from django.contrib import admin

from .models import Checkpoint, DatasetSnapshot, TrainingJob


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "n_rows", "content_hash", "created_at"]
    list_filter = ["kind", "project"]
    search_fields = ["content_hash", "path"]

    def has_change_permission(self, request, obj=None):
        return False  # snapshots are immutable: jobs must reproduce byte for byte


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "kind", "parent", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]
    readonly_fields = ["metrics", "created_at"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "progress", "worker", "created_at"]
    list_filter = ["kind", "status", "project"]
    search_fields = ["worker", "error", "log_tail"]
    readonly_fields = [
        "progress",
        "metrics",
        "log_tail",
        "worker",
        "error",
        "started_at",
        "finished_at",
        "created_at",
    ]
