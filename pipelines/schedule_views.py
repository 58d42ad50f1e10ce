"""The retraining schedules on a project's settings page (its admins): each one with its last
and next run, and forms that add, change and delete one through ``retraining.save_schedule``
and ``retraining.delete_schedule``, whose refusals are shown on the field they name.

labeling's settings page shows this part through ``settings_views.add_section`` (called from
``PipelinesConfig.ready``): pipelines sits above labeling, so labeling never imports it."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling import settings_views
from labeling.access import project_admin_required
from labeling.errors import ServiceError
from training.models import Checkpoint

from . import retraining
from .models import RetrainingSchedule

Kind = RetrainingSchedule.Kind


class ScheduleForm(forms.Form):
    """A schedule's fields as typed; ``retraining.check_schedule`` judges them."""

    kind = forms.ChoiceField(choices=Kind.choices)
    enabled = forms.BooleanField(required=False)
    min_new_rankings = forms.IntegerField(
        help_text="Retrain: new rankings since the last RM job that start a chain."
    )
    every_minutes = forms.IntegerField(help_text="Retrain: how often the check runs.")
    at_time = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Nightly snapshot: when it runs (the server's time zone).",
    )
    sft_checkpoint = forms.ModelChoiceField(
        Checkpoint.objects.all(),
        required=False,
        widget=forms.NumberInput,
        label="SFT checkpoint",
        help_text="Retrain: the checkpoint id the RM and PPO start from (empty: the project's "
        "latest SFT checkpoint, else the base model).",
    )
    config = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Retrain: the chain\'s job settings, {"rm": {...}, "ppo": {...}, '
        '"generate": {...}}.',
    )

    @classmethod
    def of(cls, project, schedule: RetrainingSchedule | None = None, data=None):
        """The form of ``schedule``, or of a new one (the model's defaults, of a kind the
        project has none of yet) when None."""
        shown = schedule or RetrainingSchedule(project=project, kind=_free_kind(project))
        initial = {name: getattr(shown, name) for name in cls.base_fields}
        prefix = f"schedule-{schedule.pk}" if schedule else "new-schedule"
        form = cls(data, initial=initial, prefix=prefix)
        form.schedule = schedule
        return form

    def apply(self, schedule: RetrainingSchedule) -> RetrainingSchedule:
        for name, value in self.cleaned_data.items():
            setattr(schedule, name, {} if name == "config" and value is None else value)
        return schedule


def _free_kind(project) -> str:
    taken = set(RetrainingSchedule.objects.filter(project=project).values_list("kind", flat=True))
    return next((kind for kind in Kind.values if kind not in taken), Kind.values[0])


def schedules_section(request, project, failed) -> dict:
    """The page's schedules part: ``failed``, a ScheduleForm whose POST was refused, is shown
    with its errors in place of the fresh form it replaces."""
    refused = failed if isinstance(failed, ScheduleForm) else None
    rows = [row for row in retraining.overview() if row["project"].pk == project.pk]
    for row in rows:
        schedule = row["schedule"]
        mine = refused is not None and refused.schedule is not None
        row["form"] = (
            refused
            if mine and refused.schedule.pk == schedule.pk
            else ScheduleForm.of(project, schedule)
        )
    adding = refused is not None and refused.schedule is None
    return {
        "template": "pipelines/_settings_schedules.html",
        "rows": rows,
        "new_form": refused if adding else ScheduleForm.of(project),
    }


def _save(request, project, form: ScheduleForm, schedule: RetrainingSchedule, done: str):
    if form.is_valid():
        try:
            retraining.save_schedule(form.apply(schedule))
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Schedule {schedule.get_kind_display().lower()} {done}.")
            return redirect(_page(project))
    return settings_views.render_settings(request, project, failed=form, status=400)


def _page(project) -> str:
    return reverse("dashboard-settings", args=[project.slug]) + "#schedules"


@project_admin_required
@require_POST
def create_schedule(request, project):
    form = ScheduleForm.of(project, data=request.POST)
    return _save(request, project, form, RetrainingSchedule(project=project), "added")


@project_admin_required
@require_POST
def update_schedule(request, project, schedule_id):
    schedule = get_object_or_404(RetrainingSchedule, project=project, pk=schedule_id)
    form = ScheduleForm.of(project, schedule, request.POST)
    return _save(request, project, form, schedule, "saved")


@project_admin_required
@require_POST
def delete_schedule(request, project, schedule_id):
    schedule = get_object_or_404(RetrainingSchedule, project=project, pk=schedule_id)
    retraining.delete_schedule(schedule)
    messages.success(request, f"Schedule {schedule.get_kind_display().lower()} deleted.")
    return redirect(_page(project))
