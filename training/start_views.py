"""The training console's "start a job" page: a form for one job or a pipeline.

A thin caller: the form's values go through the API's serializers and then the functions the
API calls (``training.job_requests``), so the page starts exactly the jobs the API would and
refuses the others with the same messages, each next to the field it names. Choosing a kind,
a size or a model re-renders the fields with that choice's defaults (htmx, GET), which
replaces the config box; the typed config is kept only by a submit."""

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from api.pipeline_serializers import PipelineCreateSerializer
from api.serializers import TrainingJobSerializer
from labeling.access import project_admin_required
from labeling.errors import ServiceError

from . import job_requests, presets
from .models import Checkpoint
from .start_form import PIPELINE, JobStartForm, default_config, picked_size, wants_lora


@require_http_methods(["GET", "POST"])
@project_admin_required
def job_start(request, project):
    if request.method == "POST":
        form = JobStartForm(request.POST.get("kind", ""), request.POST, refresh_url=request.path)
        if form.is_valid():
            started = _start(request, project, form)
            if started is not None:
                return started
        return _render(request, project, form, status=400)
    form = JobStartForm(request.GET.get("kind", "sft"), refresh_url=request.path)
    base = _offered_checkpoint(form, request.GET.get("base_checkpoint", ""))
    size = request.GET.get("size", "")
    size = size if size in presets.NAMES else ""
    preset = size or picked_size(base)[0]
    form.initial = {
        "kind": form.kind,
        "base_checkpoint": str(base.pk) if base else "",
        "size": size,
        "labelers": "simulated",
        "rounds": "1",
        "config": json.dumps(default_config(form.kind, preset, lora=wants_lora(base)), indent=2),
    }
    return _render(request, project, form)


def _offered_checkpoint(form, pk: str) -> Checkpoint | None:
    """The checkpoint ``pk`` when the form offers it for its kind (a kind switched to one
    that cannot start from it falls back to the platform's base model)."""
    offered = {value for value, _ in form.fields["base_checkpoint"].widget.choices if value}
    return Checkpoint.objects.filter(pk=pk).first() if pk in offered else None


def _render(request, project, form, status=200):
    base = _offered_checkpoint(form, str(form["base_checkpoint"].value() or ""))
    size, why = picked_size(base)
    context = {"project": project, "form": form, "picked_size": size, "picked_why": why}
    template = "training/_job_start_fields.html" if request.htmx else "training/job_start.html"
    return render(request, template, context, status=status)


def _start(request, project, form):
    """The redirect to what was started, or None with the refusals added to ``form``."""
    pipeline = form.kind == PIPELINE
    serializer_class = PipelineCreateSerializer if pipeline else TrainingJobSerializer
    serializer = serializer_class(data=form.request_data(project), context={"request": request})
    if not serializer.is_valid():
        for field, errors in serializer.errors.items():
            for message in _messages(errors):
                form.add_refusal(field, message)
        return None
    try:
        if pipeline:
            started = job_requests.start_pipeline(serializer.validated_data, request.user)
        else:
            started = job_requests.start_job(serializer.validated_data, request.user)
    except ServiceError as exc:  # JobError, PipelineError, ExportError: they name the field
        form.add_refusal(exc.field, exc.message)
        return None
    if pipeline:
        messages.success(request, f"Pipeline {started.pk} started; its first job is queued.")
        return redirect(reverse("dashboard-jobs", args=[project.slug]))
    messages.success(request, f"Job {started.pk} queued.")
    return redirect(reverse("dashboard-job", args=[project.slug, started.pk]))


def _messages(errors, prefix=""):
    """A serializer's errors for one field as flat strings (nested ones prefixed by key)."""
    if isinstance(errors, dict):
        for key, nested in errors.items():
            yield from _messages(nested, f"{prefix}{key}: ")
    elif isinstance(errors, list):
        for error in errors:
            yield from _messages(error, prefix)
    else:
        yield f"{prefix}{errors}"
