"""The evaluations page of the dashboard (staff): a project's campaigns, the chosen one's
report as charts and a table, each pipeline round's policy against the previous one, and a
form that starts a campaign (project admins)."""

import plotly.graph_objects as go
from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling import roles
from labeling.errors import ServiceError
from labeling.models import Project, Response
from labeling.vocabulary import SPLITS
from pipelines.models import PipelineStage
from preflab.charts import chart
from training.models import Checkpoint, TrainingJob

from . import campaigns, report, scoring
from .models import Campaign


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=100)
    contestants = forms.MultipleChoiceField(
        help_text="2 to 9: policies (their answers are sampled) or imported models"
    )
    split = forms.ChoiceField(choices=[(s, s) for s in SPLITS], initial="test")
    format = forms.ChoiceField(choices=Campaign.Format.choices)
    overlap = forms.IntegerField(min_value=1, initial=1, help_text="labelers per task")
    max_prompts = forms.IntegerField(min_value=1, required=False)
    max_new_tokens = forms.IntegerField(min_value=1, initial=64, required=False)

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contestants"].choices = contestant_choices(project)


def contestant_choices(project) -> list[tuple[str, str]]:
    """The project's policies (newest first), the base models, and the model names of its
    imported responses."""
    made_here = TrainingJob.objects.filter(project=project).values("output_checkpoint")
    policies = Checkpoint.objects.filter(
        Q(pk__in=made_here, kind__in=campaigns.POLICY_KINDS) | Q(kind="base")
    ).order_by("-id")
    choices = [(f"checkpoint:{c.pk}", f"{c.kind} {c.pk} · {c.name}") for c in policies]
    imported = (
        Response.objects.filter(prompt__project=project, origin=Response.Origin.MODEL)
        .exclude(model_name="")
        .values_list("model_name", flat=True)
        .distinct()
        .order_by("model_name")
    )
    return choices + [(f"model:{name}", f"imported · {name}") for name in imported[:50]]


def report_charts(document: dict) -> dict:
    """Win rate against the baseline with its interval, BT strengths with theirs, and each
    model's flag rates."""
    rows = [(name, row) for name, row in document["models"].items() if name != document["baseline"]]
    win = go.Figure(
        go.Bar(
            x=[name for name, _ in rows],
            y=[row["win_rate"] for _, row in rows],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_above(row["ci"][1], row["win_rate"]) for _, row in rows],
                "arrayminus": [_above(row["win_rate"], row["ci"][0]) for _, row in rows],
            },
        )
    )
    win.add_hline(y=0.5, line_dash="dash")  # as good as the baseline
    win.update_layout(
        title=f"Win rate against {document['baseline']} (95 % CI; dashed: a tie)",
        yaxis_range=[0, 1],
    )
    names = list(document["models"])
    bt = go.Figure(
        go.Scatter(
            x=[document["models"][n]["bt"] for n in names],
            y=names,
            mode="markers",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    _above(
                        (document["models"][n]["bt_ci"] or [None, None])[1],
                        document["models"][n]["bt"],
                    )
                    for n in names
                ],
                "arrayminus": [
                    _above(
                        document["models"][n]["bt"],
                        (document["models"][n]["bt_ci"] or [None, None])[0],
                    )
                    for n in names
                ],
            },
        )
    )
    bt.update_layout(title="Bradley–Terry strength (log-odds, baseline 0)")
    flags = sorted({flag for row in document["models"].values() for flag in row.get("flags", {})})
    flag_figure = go.Figure(
        [
            go.Bar(
                name=flag,
                x=names,
                y=[document["models"][n].get("flags", {}).get(flag, 0) for n in names],
            )
            for flag in flags
        ]
    )
    flag_figure.update_layout(title="Flags per answer", barmode="group", yaxis_tickformat=".0%")
    return {
        "win": chart(win, "chart-win-rate"),
        "bt": chart(bt, "chart-bt"),
        "flags": chart(flag_figure, "chart-flags") if flags else None,
    }


def _above(high, low):
    """An error bar's length; 0 where an end is open (None: JSON's infinity) or unknown."""
    return 0 if high is None or low is None else high - low


def round_over_round(project) -> list[dict]:
    """Each pipeline round's evaluate stage: the new policy against the one it started from,
    judged by that round's reward model."""
    rows = []
    stages = PipelineStage.objects.filter(
        pipeline__project=project, kind="evaluate", status="succeeded"
    ).select_related("job", "parent")
    for stage in stages.order_by("pipeline_id", "round"):
        metrics = stage.metrics or {}
        rows.append(
            {
                "pipeline": stage.pipeline_id,
                "round": stage.round,
                "policy": stage.parent_id,
                "baseline": (stage.job.config or {}).get("baseline_checkpoint")
                if stage.job
                else None,
                "reward_model": stage.reward_model_id,
                "win_rate": metrics.get("eval/win_rate"),
                "reward_gain": metrics.get("eval/reward_gain"),
                "prompts": metrics.get("eval/prompts"),
            }
        )
    return rows


def round_chart(rows) -> str:
    labels = [f"p{row['pipeline']} r{row['round']}" for row in rows]
    figure = go.Figure(
        go.Scatter(x=labels, y=[row["win_rate"] for row in rows], mode="lines+markers")
    )
    figure.add_hline(y=0.5, line_dash="dash")
    figure.update_layout(
        title="RM-judged win rate of each round's policy over the previous one", yaxis_range=[0, 1]
    )
    return chart(figure, "chart-rounds")


@staff_member_required
def evaluations_page(request, slug):
    project = get_object_or_404(Project, slug=slug)
    all_campaigns = list(Campaign.objects.filter(project=project))
    chosen = _chosen(all_campaigns, request.GET.get("campaign"))
    context = {
        "project": project,
        "campaigns": [(c, campaigns.describe(campaigns.advance(c))) for c in all_campaigns],
        "chosen": chosen,
        "rounds": round_over_round(project),
        "form": CampaignForm(project) if roles.has_role(request.user, project, "admin") else None,
        "judges": reward_models(project),
    }
    if chosen is not None:
        try:
            document = report.build_report(
                chosen,
                request.GET.get("baseline") or None,
                judge=request.GET.get("judge", "human"),
                n_boot=500,
            )
        except ServiceError as exc:
            context["report_error"] = str(exc)
        else:
            context["report"] = document
            context["charts"] = report_charts(document) if document["n_judgments"] else None
    if context["rounds"]:
        context["round_chart"] = round_chart(context["rounds"])
    return render(request, "evaluations/page.html", context)


def _chosen(all_campaigns, wanted):
    for campaign in all_campaigns:
        if str(campaign.pk) == wanted:
            return campaign
    return all_campaigns[0] if all_campaigns else None


def reward_models(project):
    """The project's reward models, newest first: the judges a campaign can be scored by."""
    made_here = TrainingJob.objects.filter(project=project).values("output_checkpoint")
    return Checkpoint.objects.filter(pk__in=made_here, kind="rm").order_by("-id")


@staff_member_required
@require_POST
def score(request, slug, campaign_id):
    """Queue a reward model's scoring of the campaign's answers (project admins); the page
    then shows its verdicts with ?judge=rm:ID once the worker is done."""
    project = get_object_or_404(Project, slug=slug)
    if not roles.has_role(request.user, project, "admin"):
        raise PermissionDenied("only the project's admins score evaluations")
    campaign = get_object_or_404(Campaign, project=project, pk=campaign_id)
    judge = reward_models(project).filter(pk=request.POST.get("judge") or 0).first()
    if judge is None:
        messages.error(request, "judge: choose one of the project's reward models")
        return redirect(f"{reverse('dashboard-evaluations', args=[slug])}?campaign={campaign.pk}")
    scoring.queue_scoring(campaign, judge)
    messages.success(request, f"Reward model {judge.pk} is scoring the answers on a worker.")
    page = reverse("dashboard-evaluations", args=[slug])
    return redirect(f"{page}?campaign={campaign.pk}&judge=rm:{judge.pk}")


@staff_member_required
@require_POST
def create(request, slug):
    project = get_object_or_404(Project, slug=slug)
    if not roles.has_role(request.user, project, "admin"):
        raise PermissionDenied("only the project's admins start evaluations")
    form = CampaignForm(project, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            campaign = campaigns.create_from_request(project, data, user=request.user)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Campaign {campaign.name} started.")
            page = reverse("dashboard-evaluations", args=[project.slug])
            return redirect(f"{page}?campaign={campaign.pk}")
    all_campaigns = list(Campaign.objects.filter(project=project))
    context = {
        "project": project,
        "campaigns": [(c, campaigns.describe(c)) for c in all_campaigns],
        "chosen": None,
        "rounds": round_over_round(project),
        "form": form,
    }
    return render(request, "evaluations/page.html", context, status=400)
