"""Pipelines in the admin: to look at, not to drive (``run_pipeline`` and the service do)."""

from django.contrib import admin

from .models import Pipeline, PipelineStage


class StageInline(admin.TabularInline):
    model = PipelineStage
    extra = 0
    can_delete = False
    fields = ("round", "kind", "status", "job", "parent", "reward_model", "output", "note")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "labelers", "rounds", "status", "created_at", "finished_at")
    list_filter = ("status", "labelers")
    readonly_fields = (
        "project", "labelers", "rounds", "base_checkpoint", "config", "status", "error",
        "created_by", "created_at", "finished_at",
    )  # fmt: skip
    inlines = [StageInline]

    def has_add_permission(self, request):
        return False
