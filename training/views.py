"""The training console of the dashboard (the project's admins): its jobs as a list with
cancel and retry, and a job's page with its live curves, config, log tail and lineage.

The pages only read records; moves go through ``training.lifecycle`` like the API's. While
something is active, the live parts re-fetch themselves with htmx every 3 s, and the fragment
that arrives once nothing is active no longer asks to, which stops the polling."""

import json
import os
import tempfile
import zipfile
from html import escape
from pathlib import Path

import plotly.graph_objects as go
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from labeling.access import project_admin_required
from preflab.charts import chart

from . import lifecycle
from . import lineage as lineage_module
from .curves import chart_groups
from .models import Checkpoint, TrainingJob

LIST_LIMIT = 200
# with more points than this a curve is drawn without markers: thousands of them hide the line
MARKERS_UP_TO = 200


def eta_seconds(job, now) -> float | None:
    """The time left, extrapolated from the progress so far: elapsed × (1 − p) / p. Only for
    a running job past 2 %, below which the estimate is mostly start-up time."""
    if job.status != TrainingJob.Status.RUNNING or job.started_at is None:
        return None
    if job.progress <= 0.02:
        return None
    elapsed = (now - job.started_at).total_seconds()
    return max(elapsed, 0) * (1 - job.progress) / job.progress


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


def _list_context(project) -> dict:
    jobs = list(
        TrainingJob.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:LIST_LIMIT]
    )
    now = timezone.now()
    return {
        "project": project,
        "rows": [{"job": job, "eta": duration_text(eta_seconds(job, now))} for job in jobs],
        "active": any(job.status in TrainingJob.ACTIVE for job in jobs),
        "limit": LIST_LIMIT,
    }


@project_admin_required
def jobs_list(request, project):
    return render(request, "training/jobs.html", _list_context(project))


@project_admin_required
def jobs_live(request, project):
    """The list's table alone, for htmx's polling."""
    return render(request, "training/_jobs_live.html", _list_context(project))


def curve_charts(job) -> list[str]:
    """One plotly chart per metric prefix, each numeric key a line over steps."""
    charts = []
    for group in chart_groups(job.metric_series()):
        figure = go.Figure(
            [
                go.Scatter(
                    x=series.steps,
                    y=series.values,
                    name=series.key,
                    mode="lines+markers" if len(series.steps) <= MARKERS_UP_TO else "lines",
                )
                for series in group.series
            ]
        )
        figure.update_layout(
            title=f"{group.prefix}/",
            xaxis_title="step",
            showlegend=True,  # plotly hides a lone curve's legend, and with it the key's name
            # below the plot, so that a phone's narrow chart keeps its width for the curves
            legend={"orientation": "h", "y": -0.25},
        )
        charts.append(chart(figure, group.div_id))
    return charts


def _job_alarms(job) -> list[dict]:
    # the alarms are read from the metric series today; they may become a stored field
    alarms = getattr(job, "alarms", None) or []
    return list(alarms() if callable(alarms) else alarms)


def _job_context(project, job_id) -> dict:
    job = get_object_or_404(
        TrainingJob.objects.select_related(
            "created_by",
            "snapshot",
            "demonstrations_snapshot",
            "pretrain_corpus",
            "base_checkpoint",
            "output_checkpoint",
            "rerun_of",
        ).prefetch_related("metric_rows"),
        project=project,
        pk=job_id,
    )
    heartbeat_age = (
        (timezone.now() - job.heartbeat_at).total_seconds() if job.heartbeat_at else None
    )
    return {
        "project": project,
        "job": job,
        "heartbeat_age": duration_text(heartbeat_age),
        "active": job.status in TrainingJob.ACTIVE,
        "alarms": _job_alarms(job),
        "charts": curve_charts(job),
        "stages": list(job.pipeline_stages.select_related("pipeline")),
    }


@project_admin_required
def job_page(request, project, job_id):
    context = _job_context(project, job_id)
    context["config_json"] = json.dumps(context["job"].config, indent=2, sort_keys=True)
    return render(request, "training/job.html", context)


@project_admin_required
def job_live(request, project, job_id):
    """The job page's header, charts and log tail, for htmx's polling."""
    return render(request, "training/_job_live.html", _job_context(project, job_id))


@require_POST
@project_admin_required
def job_cancel(request, project, job_id):
    return _move(request, project, job_id, lifecycle.cancel, "cancelled")


@require_POST
@project_admin_required
def job_retry(request, project, job_id):
    return _move(request, project, job_id, lifecycle.retry, "queued again; it resumes")


def _move(request, project, job_id, transition, done):
    job = get_object_or_404(TrainingJob, project=project, pk=job_id)
    try:
        transition(job)
    except lifecycle.TransitionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Job {job.pk} {done}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("dashboard-jobs", args=[project.slug])
    return redirect(back)


# --- the models page: the checkpoint lineage, and a checkpoint's folder as a zip ---

LINEAGE_COLOURS = {
    "snapshot": "#98a2b3",
    "base": "#667085",
    "sft": "#2e90fa",
    "rm": "#f79009",
    "policy": "#12b76a",
    "evaluation": "#9e77ed",
}

# the reward model's arrows in its colour, an evaluation's baseline and judge fainter
EDGE_COLOURS = {"reward": "#dc6803", "judge": "#98a2b3", "baseline": "#98a2b3"}


def _hover(node) -> str:
    lines = [f"<b>{escape(node['label'])}</b>", escape(node["name"])]
    lines += [
        f"{escape(key)}: {escape(lineage_module.fmt(v))}" for key, v in node["metrics"].items()
    ]
    if node["created_at"]:
        lines.append(node["created_at"].strftime("%Y-%m-%d %H:%M"))
    return "<br>".join(lines)


def lineage_chart(lineage) -> str:
    """The lineage as a plotly figure: a marker per node, one trace per kind, and an arrow
    (a layout annotation) per edge with its label half way."""
    nodes = {node["id"]: node for node in lineage["nodes"]}
    traces = []
    columns = []
    for kind in lineage_module.COLUMNS:
        group = [node for node in lineage["nodes"] if node["kind"] == kind]
        if not group:
            continue
        columns.append(kind)
        traces.append(
            go.Scatter(
                x=[node["x"] for node in group],
                y=[node["y"] for node in group],
                mode="markers+text",
                name=kind,
                text=[escape(node["label"]) for node in group],
                textposition="bottom center",
                hovertext=[_hover(node) for node in group],
                hoverinfo="text",
                marker={"size": 18, "color": LINEAGE_COLOURS[kind], "line": {"width": 1}},
            )
        )
    annotations = []
    for edge in lineage["edges"]:
        source, target = nodes[edge["source"]], nodes[edge["target"]]
        colour = EDGE_COLOURS.get(edge["label"], "#667085")
        annotations.append(
            {
                "x": target["x"], "y": target["y"], "ax": source["x"], "ay": source["y"],
                "xref": "x", "yref": "y", "axref": "x", "ayref": "y", "text": "",
                "showarrow": True, "arrowhead": 2, "arrowsize": 1.2, "arrowwidth": 1.3,
                "arrowcolor": colour, "standoff": 10, "startstandoff": 10,
            }
        )  # fmt: skip
        if edge["label"]:
            annotations.append(
                {
                    # nearer the target than half way, where the labels of two edges
                    # that cross would meet
                    "x": source["x"] + 0.62 * (target["x"] - source["x"]),
                    "y": source["y"] + 0.62 * (target["y"] - source["y"]),
                    "xref": "x", "yref": "y", "text": escape(edge["label"]), "showarrow": False,
                    "font": {"size": 11, "color": colour}, "bgcolor": "rgba(255,255,255,.8)",
                }
            )  # fmt: skip
    rows = min((node["y"] for node in lineage["nodes"]), default=0)
    figure = go.Figure(traces)
    figure.update_layout(
        annotations=annotations,
        showlegend=False,
        hovermode="closest",
        plot_bgcolor="white",
        xaxis={
            "tickvals": list(range(len(columns))),
            "ticktext": columns,
            "side": "top",
            "range": [-0.5, len(columns) - 0.5],
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
        },
        yaxis={
            "visible": False,
            "range": [rows - 0.7, 0.4],
            "fixedrange": True,
        },
    )
    return chart(figure, "chart-lineage")


def artifact_folder(checkpoint) -> Path | None:
    """The checkpoint's folder when it is a local folder inside PREFLAB_ARTIFACTS_DIR (symlinks
    resolved); None for a hub id or anything elsewhere."""
    root = Path(settings.PREFLAB_ARTIFACTS_DIR).resolve()
    if not checkpoint.path:
        return None
    try:
        folder = Path(checkpoint.path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if folder == root or not folder.is_relative_to(root) or not folder.is_dir():
        return None
    return folder


@project_admin_required
def models_page(request, project):
    lineage = lineage_module.project_lineage(project)
    checkpoints = lineage_module.project_checkpoints(project)
    rows = [
        {
            "checkpoint": checkpoint,
            "metrics": lineage_module.key_metrics(checkpoint.kind, checkpoint.metrics),
            "downloadable": artifact_folder(checkpoint) is not None,
        }
        for checkpoint in reversed(checkpoints)
    ]
    context = {
        "project": project,
        "rows": rows,
        "chart": lineage_chart(lineage) if lineage["nodes"] else "",
    }
    return render(request, "training/models.html", context)


@project_admin_required
def checkpoint_download(request, project, checkpoint_id):
    """The checkpoint's folder as a zip, built in a temporary file (symlinks inside are left
    out, so nothing outside the folder is read)."""
    ids = {c.pk for c in lineage_module.project_checkpoints(project)}
    if checkpoint_id not in ids:
        raise Http404("no such checkpoint in this project")
    checkpoint = get_object_or_404(Checkpoint, pk=checkpoint_id)
    folder = artifact_folder(checkpoint)
    if folder is None:
        raise Http404("this checkpoint is not a local folder of the artifacts")
    archive = tempfile.TemporaryFile()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for directory, subdirs, files in os.walk(folder):
            subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
            for name in sorted(files):
                file = Path(directory, name)
                if file.is_symlink() or not file.is_file():
                    continue
                zipped.write(file, file.relative_to(folder).as_posix())
    archive.seek(0)
    filename = f"{checkpoint.kind}-{checkpoint.pk}-{slugify(checkpoint.name) or 'checkpoint'}.zip"
    return FileResponse(archive, as_attachment=True, filename=filename)
