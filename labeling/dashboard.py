"""The quality dashboard (staff only): agreement, throughput, flags, labeler pairs, the tasks
labelers disagree on most, and screening decisions. Thin views over ``agreement.py`` and
``screening.py``; charts are plotly figures rendered to HTML, with plotly.js served from the
installed ``plotly`` package."""

import datetime as dt
from functools import lru_cache

import plotly.graph_objects as go
import plotly.offline
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labeling import roles
from labeling.models import Project, Prompt, RankingItem, RankingTask
from labeling.quality import agreement, screening
from labeling.quality.consensus import consensus_ranks
from preflab.charts import chart

SORTABLE = {
    "username": "Labeler",
    "agreement": "Agreement",
    "gold_agreement": "Gold agreement",
    "n_rankings": "Rankings",
    "median_seconds": "Median s / task",
    "skip_rate": "Skip rate",
    "flag_rate": "Flag rate",
}


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    return plotly.offline.get_plotlyjs().encode()


def plotly_js(request):
    """plotly.js from the plotly package; it changes only with the package, so cache long."""
    response = HttpResponse(_plotly_js(), content_type="application/javascript")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _filters(request) -> dict:
    """The query's filters, as the statistics check them; a refused one is dropped and the
    page says why."""
    filters = {"category": request.GET.get("category"), "split": request.GET.get("split")}
    for name in ("since", "until"):
        text = request.GET.get(name, "")
        try:
            filters[name] = dt.date.fromisoformat(text) if text else None
        except ValueError:
            messages.error(request, f"{name}: expected a date YYYY-MM-DD, got {text!r}")
            filters[name] = None
    while True:
        try:
            return agreement.clean_filters(**filters)
        except agreement.AgreementError as exc:
            messages.error(request, f"{exc.field}: {exc.message}")
            filters[exc.field] = None


def charts(data: dict) -> dict:
    throughput = go.Figure(
        [go.Bar(name=name, x=data["days"], y=counts) for name, counts in data["throughput"].items()]
    )
    throughput.update_layout(barmode="stack", title="Rankings per day", legend_title="labeler")
    over_time = go.Figure(
        go.Scatter(x=data["agreement_days"], y=data["agreement_by_day"], mode="lines+markers")
    )
    over_time.update_layout(title="Pairwise agreement by day", yaxis={"range": [0, 1]})
    flags = go.Figure(
        go.Heatmap(
            z=data["flag_rates_by_category"],
            x=data["flag_names"],
            y=data["categories"],
            colorscale="Reds",
        )
    )
    flags.update_layout(title="Flag rate by prompt category")
    pairs = go.Figure(
        go.Heatmap(
            z=data["pair_matrix"],
            x=data["usernames"],
            y=data["usernames"],
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            customdata=data["pair_shared"],
            hovertemplate="%{y} vs %{x}: %{z:.2f} over %{customdata} pairs<extra></extra>",
        )
    )
    pairs.update_layout(title="Agreement between labeler pairs")
    return {
        "throughput": chart(throughput, "chart-throughput"),
        "agreement": chart(over_time, "chart-agreement"),
        "flags": chart(flags, "chart-flags"),
        "pairs": chart(pairs, "chart-pairs"),
    }


def _sorted(rows, key, descending):
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + missing


def _sort_links(request, sort, descending):
    """(column, label, query string, arrow): ascending on the first click, then flips."""
    links = []
    for column, label in SORTABLE.items():
        query = request.GET.copy()
        query["sort"] = column
        query["dir"] = "desc" if column == sort and not descending else "asc"
        arrow = ("↓" if descending else "↑") if column == sort else ""
        links.append((column, label, query.urlencode(), arrow))
    return links


@staff_member_required
def index(request):
    return render(request, "dashboard/index.html", {"projects": Project.objects.all()})


@staff_member_required
def project_dashboard(request, slug):
    project = get_object_or_404(Project, slug=slug)
    filters = _filters(request)
    data = agreement.project_dashboard(project, **filters)
    sort = request.GET.get("sort", "agreement")
    sort = sort if sort in SORTABLE else "agreement"
    descending = request.GET.get("dir", "asc") == "desc"
    context = {
        "project": project,
        "filters": filters,
        "doc": data["document"],
        "data": data,
        "labelers": _sorted(data["labelers"], sort, descending),
        "sort": sort,
        "descending": descending,
        "columns": _sort_links(request, sort, descending),
        "charts": charts(data) if data["document"]["labelers"] else None,
        "categories": Prompt.Category.values,
        "splits": Prompt.Split.values,
        "query": request.GET.urlencode(),
    }
    return render(request, "dashboard/project.html", context)


@staff_member_required
def disagreements(request, slug):
    """The tasks with the lowest agreement, each with every labeler's ranks side by side."""
    project = get_object_or_404(Project, slug=slug)
    data = agreement.project_dashboard(project, **_filters(request))
    worst = {row["task_id"]: row for row in data["disagreements"]}
    tasks = RankingTask.objects.filter(pk__in=worst).select_related("prompt")
    items = RankingItem.objects.filter(
        ranking__task__in=tasks, ranking__is_current=True
    ).select_related("ranking__labeler")
    by_task = {}
    for item in items:
        by_task.setdefault(item.ranking.task_id, []).append(item)
    rows = []
    for task in sorted(tasks, key=lambda t: (worst[t.pk]["agreement"], t.pk)):
        responses = task.ordered_responses()
        labelers = sorted({i.ranking.labeler.username for i in by_task.get(task.pk, [])})
        ranks = {(i.ranking.labeler.username, i.response_id): i for i in by_task.get(task.pk, [])}
        rank_lists = [
            [ranks[(name, r.pk)].rank if (name, r.pk) in ranks else 9 for r in responses]
            for name in labelers
        ]
        consensus = consensus_ranks(rank_lists) if rank_lists else []
        rows.append(
            {
                "task": task,
                "agreement": worst[task.pk]["agreement"],
                "labelers": labelers,
                "responses": [
                    {
                        "response": response,
                        "consensus": consensus[p] if consensus else None,
                        "cells": [ranks.get((name, response.pk)) for name in labelers],
                    }
                    for p, response in enumerate(responses)
                ],
            }
        )
    return render(request, "dashboard/disagreements.html", {"project": project, "rows": rows})


@staff_member_required
def screening_view(request, slug):
    project = get_object_or_404(Project, slug=slug)
    return render(
        request,
        "dashboard/screening.html",
        {
            "project": project,
            "candidates": screening.candidates(project),
            "screening_tasks": len(screening.screening_task_ids(project)),
            "can_decide": roles.has_role(request.user, project, "reviewer"),
        },
    )


@staff_member_required
@require_POST
def screening_decide(request, slug, user_id):
    project = get_object_or_404(Project, slug=slug)
    if not roles.has_role(request.user, project, "reviewer"):
        raise PermissionDenied("Only reviewers and admins of this project decide.")
    candidate = get_object_or_404(get_user_model(), pk=user_id)
    try:
        screening.decide(
            project,
            candidate,
            request.POST.get("decision", ""),
            request.user,
            request.POST.get("note", ""),
        )
    except screening.ScreeningError as exc:
        messages.error(request, f"{candidate.username}: {exc.field}: {exc.message}")
    else:
        messages.success(request, f"{candidate.username}: {request.POST['decision']}")
    return redirect("dashboard-screening", slug=project.slug)
