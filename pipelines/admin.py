"""Pipelines in the admin: to look at, not to drive (``run_pipeline`` and the service do).
Retraining schedules are edited here, and on their project's page."""

from django import forms
from django.contrib import admin

from labeling.errors import ServiceError
from labeling.models import Project

from . import retraining
from .models import Pipeline, PipelineStage, RetrainingSchedule


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
    list_display = (
        "id", "project", "mode", "labelers", "rounds", "status", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "mode", "labelers")
    readonly_fields = (
        "project", "mode", "labelers", "rounds", "base_checkpoint", "config", "status", "error",
        "created_by", "created_at", "finished_at",
    )  # fmt: skip
    inlines = [StageInline]

    def has_add_permission(self, request):
        return False


# --- retraining schedules: every write goes through pipelines.retraining.save_schedule -------

SCHEDULE_FIELDS = (
    "kind", "enabled", "min_new_rankings", "every_minutes", "at_time", "sft_checkpoint", "config",
)  # fmt: skip
SCHEDULE_SHOWN = ("periodic_task", "last_run_at", "last_outcome", "last_pipeline")


class RetrainingScheduleForm(forms.ModelForm):
    class Meta:
        model = RetrainingSchedule
        fields = ("project", *SCHEDULE_FIELDS)

    def clean(self):
        data = super().clean()
        values = {f: data.get(f) for f in SCHEDULE_FIELDS if f in data}
        project = data.get("project") or getattr(self.instance, "project", None)
        draft = RetrainingSchedule(pk=self.instance.pk, project=project, **values)
        if draft.config is None:
            draft.config = {}
        try:
            retraining.check_schedule(draft)
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class ScheduleFormSet(forms.BaseInlineFormSet):
    """The project page's inline: saved by the service, so the PeriodicTask follows."""

    def save_new(self, form, commit=True):
        schedule = super().save_new(form, commit=False)
        return retraining.save_schedule(schedule) if commit else schedule

    def save_existing(self, form, obj, commit=True):
        schedule = super().save_existing(form, obj, commit=False)
        return retraining.save_schedule(schedule) if commit else schedule


class ScheduleInline(admin.StackedInline):
    model = RetrainingSchedule
    form = RetrainingScheduleForm
    formset = ScheduleFormSet
    extra = 0
    fields = (*SCHEDULE_FIELDS, *SCHEDULE_SHOWN)
    readonly_fields = SCHEDULE_SHOWN


@admin.register(RetrainingSchedule)
class RetrainingScheduleAdmin(admin.ModelAdmin):
    form = RetrainingScheduleForm
    list_display = ("project", "kind", "enabled", "min_new_rankings", "last_run_at", "last_outcome")
    list_filter = ("kind", "enabled")
    fields = ("project", *SCHEDULE_FIELDS, *SCHEDULE_SHOWN)
    readonly_fields = SCHEDULE_SHOWN

    def save_model(self, request, obj, form, change):
        retraining.save_schedule(obj)


# The project's settings page shows its schedules too. labeling must not import pipelines, so
# the inline is added here to the ProjectAdmin that labeling registered (labeling's admin is
# loaded first: it comes first in INSTALLED_APPS).
_project_admin = admin.site._registry.get(Project)
if _project_admin is not None and ScheduleInline not in _project_admin.inlines:
    _project_admin.inlines = [*_project_admin.inlines, ScheduleInline]
