"""Labeler pages: thin callers of assignment.py, demonstrations.py and labeler_stats.py."""

import json
import uuid

import markdown
import nh3
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from labeling import roles
from labeling.assignment import demonstrations, engine
from labeling.forms import DemonstrationForm, RankingForm, ReviewForm, SkipForm, flag_label
from labeling.models import Assignment, Demonstration, Project, Prompt
from labeling.quality import labeler_stats


def guidelines_html(project):
    # Guidelines are admin-written markdown; still sanitised, since it is shown to everyone.
    return nh3.clean(markdown.markdown(project.guidelines or ""))


def member_project(request, slug, role="labeler"):
    project = get_object_or_404(Project, slug=slug)
    if not roles.has_role(request.user, project, role):
        raise PermissionDenied("You are not a member of this project.")
    return project


@login_required
def home(request):
    rows = []
    for project in roles.projects_for(request.user):
        role = roles.role_in(request.user, project)
        rows.append(
            {
                "project": project,
                "is_reviewer": roles.ROLE_ORDER[role] >= roles.ROLE_ORDER["reviewer"],
                "reviews_open": demonstrations.pending_for_review(project, request.user).count(),
                "stats": labeler_stats.home_stats(project, request.user),
            }
        )
    return render(request, "labeling/home.html", {"rows": rows})


# --- ranking ---------------------------------------------------------------------------


@login_required
def rank_next(request, slug):
    project = member_project(request, slug)
    assignment = engine.next_assignment(project, request.user)
    if assignment is None:
        return render(request, "labeling/queue_empty.html", {"project": project})
    return redirect("rank-task", slug=project.slug, assignment_id=assignment.id)


def own_assignment(request, slug, assignment_id):
    project = member_project(request, slug)
    return get_object_or_404(
        Assignment.objects.select_related("task__prompt", "task__project"),
        pk=assignment_id,
        task__project=project,
        labeler=request.user,
    )


def ranking_context(assignment, user, draft, form=None):
    task = assignment.task
    project = task.project
    responses = task.ordered_responses()
    order = engine.display_order(task, user)
    draft = draft or {}
    likert, flags = draft.get("likert", {}), draft.get("flags", {})
    cards = [
        {
            "pos": pos,
            "number": number,
            "text": responses[pos].text,
            "likert": likert.get(str(pos)),
            "flags": flags.get(str(pos), []),
        }
        for number, pos in enumerate(order, start=1)
    ]
    page_data = {
        "responses": [
            {"pos": c["pos"], "number": c["number"], "snippet": c["text"][:60]} for c in cards
        ],
        "groups": draft.get("groups", []),
        "seconds": draft.get("seconds", 0),
        "draftAt": draft.get("at", 0),
        "k": task.k,
        "allowTies": project.allow_ties,
        "likertMax": project.likert_max,
    }
    return {
        "project": project,
        "assignment": assignment,
        "task": task,
        "prompt": task.prompt,
        "cards": cards,
        "likert_values": range(1, project.likert_max + 1),
        "flags": [(f, flag_label(f)) for f in project.flags or []],
        "page_data": page_data,
        "draft": draft,
        "form": form,
        "guidelines": guidelines_html(project),
        "lease_over": assignment.status == Assignment.Status.EXPIRED
        or assignment.expires_at <= timezone.now(),
        "submission_key": uuid.uuid4().hex,
        "skip_form": SkipForm(),
    }


@login_required
def rank_task(request, slug, assignment_id):
    assignment = own_assignment(request, slug, assignment_id)
    if assignment.status in (Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED):
        messages.info(request, "That task is done; here is the next one.")
        return redirect("rank-next", slug=slug)
    order = engine.display_order(assignment.task, request.user)
    if request.method != "POST":
        context = ranking_context(assignment, request.user, assignment.draft)
        return render(request, "labeling/rank.html", context)
    form = RankingForm(request.POST, task=assignment.task, order=order)
    error = None
    if form.is_valid():
        d = form.cleaned_data
        try:
            engine.submit_ranking(
                assignment,
                request.user,
                form.items(),
                submission_key=d["submission_key"] or "",
                comment=d["comment"],
                seconds_spent=d["seconds_spent"] or 0.0,
                all_unacceptable=d["all_unacceptable"],
            )
        except engine.SubmissionError as exc:
            error = str(exc)
        else:
            messages.success(request, "Ranking saved.")
            return redirect("rank-next", slug=slug)
    # Refused: keep what the labeler did as the draft and show the page again.
    draft = form.as_draft()
    try:
        engine.save_draft(assignment, request.user, draft)
    except engine.SubmissionError:
        pass
    context = ranking_context(assignment, request.user, draft, form=form)
    context["error"] = error
    return render(request, "labeling/rank.html", context, status=400)


@login_required
@require_POST
def rank_draft(request, slug, assignment_id):
    assignment = own_assignment(request, slug, assignment_id)
    try:
        draft = json.loads(request.POST.get("draft", ""))
        engine.save_draft(assignment, request.user, draft)
    except (ValueError, engine.SubmissionError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return HttpResponse(status=204)


@login_required
@require_POST
def rank_skip(request, slug, assignment_id):
    assignment = own_assignment(request, slug, assignment_id)
    form = SkipForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("rank-task", slug=slug, assignment_id=assignment.pk)
    try:
        engine.skip_assignment(assignment, request.user, form.reason_text())
    except engine.SubmissionError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, "Task skipped.")
    return redirect("rank-next", slug=slug)


# --- demonstrations --------------------------------------------------------------------

SKIPPED_PROMPTS = "skipped_prompts"


@login_required
def demonstrate(request, slug):
    project = member_project(request, slug)
    skipped = request.session.get(SKIPPED_PROMPTS, [])
    if request.method != "POST":
        prompt = demonstrations.next_prompt(project, request.user, skip_ids=skipped)
        form = DemonstrationForm(initial={"prompt_id": prompt.pk if prompt else None})
        return render_demonstrate(request, project, prompt, form)
    form = DemonstrationForm(request.POST)
    prompt_id = request.POST.get("prompt_id", "")
    prompt = (
        Prompt.objects.filter(pk=prompt_id, project=project).first()
        if prompt_id.isdigit()
        else None
    )
    if prompt is None:
        return redirect("demonstrate", slug=slug)
    if request.POST.get("skip"):
        request.session[SKIPPED_PROMPTS] = skipped + [prompt.pk]
        return redirect("demonstrate", slug=slug)
    if form.is_valid():
        try:
            demonstrations.submit_demonstration(
                prompt,
                request.user,
                form.cleaned_data["text"],
                seconds_spent=form.cleaned_data["seconds_spent"] or 0.0,
            )
        except demonstrations.DemonstrationError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Demonstration saved; it will be reviewed.")
            return redirect("demonstrate", slug=slug)
    return render_demonstrate(request, project, prompt, form, status=400)


def render_demonstrate(request, project, prompt, form, status=200):
    context = {
        "project": project,
        "prompt": prompt,
        "form": form,
        "guidelines": guidelines_html(project),
    }
    return render(request, "labeling/demonstrate.html", context, status=status)


@login_required
def review_list(request, slug):
    project = member_project(request, slug, role="reviewer")
    pending = demonstrations.pending_for_review(project, request.user)[:50]
    return render(request, "labeling/review.html", {"project": project, "pending": pending})


@login_required
@require_POST
def review_decide(request, slug, demonstration_id):
    project = member_project(request, slug, role="reviewer")
    demo = get_object_or_404(Demonstration, pk=demonstration_id, prompt__project=project)
    form = ReviewForm(request.POST)
    error = None
    if form.is_valid():
        try:
            demo = demonstrations.review(
                demo,
                request.user,
                accept=form.cleaned_data["decision"] == "accept",
                note=form.cleaned_data["note"],
            )
        except demonstrations.DemonstrationError as exc:
            error = str(exc)
    else:
        error = "decision: choose accept or reject"
    context = {"project": project, "demo": demo, "error": error}
    if request.htmx:
        return render(request, "labeling/_review_item.html", context)
    if error:
        messages.error(request, error)
    return redirect("review", slug=slug)
