"""The project settings page of the dashboard (the project's admins): every setting of
``labeling.projects`` in one form, saved by ``projects.update_project``.

The form only parses types (numbers, a time, lines of flag names); whether a value is allowed
is the service's call, and its refusal (``ProjectError``) is shown on the field it names.

Other apps add their own parts of the page (pipelines: the retraining schedules) with
``add_section`` from their ``AppConfig.ready``: labeling sits below them and imports none.
"""

import re
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling import projects
from labeling.access import project_admin_required
from labeling.models import Project
from labeling.vocabulary import SPLITS

# A section: (request, project, failed) -> {"template": ..., **its context}. ``failed`` is
# the bound form whose POST was refused (None on a plain GET); a section shows it in place
# of its own fresh form when it is one of its own.
Section = Callable[..., dict]
SECTIONS: list[Section] = []

# Flags are typed one a line (commas work too); blank lines are dropped.
FLAG_SEPARATORS = re.compile(r"[\n,]")


def add_section(section: Section) -> Section:
    """Show ``section`` on every project's settings page, below the project's form."""
    if section not in SECTIONS:
        SECTIONS.append(section)
    return section


class FlagsField(forms.CharField):
    """Flag names, one a line, as the list the service checks."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        return [flag.strip() for flag in FLAG_SEPARATORS.split(text) if flag.strip()]


class MarkdownField(forms.CharField):
    """Text as typed, with the browser's CRLF line ends stored as LF: a textarea sent back
    unchanged is then unchanged, not a change the page reports."""

    def to_python(self, value):
        return super().to_python(value).replace("\r\n", "\n")


class SplitFractionsWidget(forms.MultiWidget):
    def __init__(self):
        super().__init__([forms.NumberInput(attrs={"step": "any"}) for _ in SPLITS])

    def decompress(self, value):
        value = value or {}
        return [value.get(name) for name in SPLITS]


class SplitFractionsField(forms.MultiValueField):
    """The share of prompt authors in each split (train, validation, test), as a dict."""

    widget = SplitFractionsWidget

    def __init__(self, **kwargs):
        fields = [forms.FloatField(label=name) for name in SPLITS]
        super().__init__(fields, require_all_fields=True, **kwargs)

    def compress(self, data_list):
        return dict(zip(SPLITS, data_list, strict=True)) if data_list else None


def _count(**kwargs):
    return forms.IntegerField(widget=forms.NumberInput(attrs={"step": 1}), **kwargs)


def _share(**kwargs):
    return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any"}), **kwargs)


class ProjectSettingsForm(forms.Form):
    """Field names are the service's setting names, so its refusals land on their field."""

    name = forms.CharField()
    k_min = _count(label="K min", help_text="Fewest responses a ranking task shows.")
    k_max = _count(label="K max", help_text="Most responses a ranking task shows.")
    overlap = _count(help_text="Distinct labelers per ranking task.")
    allow_ties = forms.BooleanField(required=False)
    gold_rate = _share(help_text="Share of served tasks that are gold (0 to 1).")
    lease_minutes = _count(help_text="A task returns to the queue when its lease lapses.")
    likert_max = _count(label="Likert max", help_text="Ratings run from 1 to this value.")
    min_seconds_per_task = _count(help_text="Throttle: a labeler's least time per task (0: off).")
    guidelines = MarkdownField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown shown to labelers.",
    )
    principles = MarkdownField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown: the constitution AI labelers judge responses by (empty: the default).",
    )
    flags = FlagsField(
        required=False,
        strip=False,
        help_text="The flags labelers may tick on a response: one name a line, like hallucination.",
    )
    split_fractions = SplitFractionsField(
        help_text=f"Share of prompt authors in each split ({', '.join(SPLITS)}); they sum to 1."
    )
    prompt_cap_per_user = _count(help_text="At most this many prompts per source user.")
    dedup_prefix_chars = _count(
        help_text="Prompts whose first N normalised characters agree are duplicates (0: whole)."
    )
    agreement_threshold = _share(
        help_text="Labelers whose agreement with others is below this are highlighted."
    )
    requires_screening = forms.BooleanField(
        required=False, help_text="New labelers get only screening (gold) tasks until they pass."
    )
    screening_threshold = _share(
        help_text="Agreement with gold rankings (and demonstration acceptance) a candidate needs."
    )
    screening_min_tasks = _count(help_text="Gold tasks a candidate ranks before being judged.")
    screening_min_demonstrations = _count(
        help_text="Reviewed demonstrations a candidate needs (0: none)."
    )

    # how the page groups the fields
    GROUPS = {
        "Ranking tasks": [
            "name", "k_min", "k_max", "overlap", "allow_ties", "gold_rate", "lease_minutes",
            "likert_max", "min_seconds_per_task",
        ],
        "Guidelines and flags": ["guidelines", "principles", "flags"],
        "Prompts": ["split_fractions", "prompt_cap_per_user", "dedup_prefix_chars"],
        "Quality and screening": [
            "agreement_threshold", "requires_screening", "screening_threshold",
            "screening_min_tasks", "screening_min_demonstrations",
        ],
    }  # fmt: skip

    @classmethod
    def of(cls, project: Project, data=None):
        initial = {name: getattr(project, name) for name in cls.base_fields}
        return cls(data, initial=initial, prefix="project")

    def groups(self):
        return [(title, [self[name] for name in names]) for title, names in self.GROUPS.items()]

    def split_inputs(self) -> list[tuple[str, str, str, object]]:
        """(split, input name, input id, value) for each split's input of split_fractions."""
        field = self["split_fractions"]
        values = field.value()
        if not isinstance(values, list):  # unbound: the stored dict
            values = field.field.widget.decompress(values)
        return [
            (split, f"{field.html_name}_{i}", f"{field.auto_id}_{i}", values[i])
            for i, split in enumerate(SPLITS)
        ]

    def changes(self) -> dict:
        """The settings the admin changed, as the service takes them."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


def render_settings(request, project: Project, *, form=None, failed=None, status=200):
    """The whole page; ``form`` and ``failed``: forms whose POST was refused, shown with their
    errors in place of fresh ones."""
    context = {
        "project": project,
        "form": form or ProjectSettingsForm.of(project),
        "sections": [section(request, project, failed) for section in SECTIONS],
    }
    return render(request, "dashboard/settings.html", context, status=status)


@project_admin_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project):
    if request.method == "GET":
        return render_settings(request, project)
    form = ProjectSettingsForm.of(project, request.POST)
    if form.is_valid():
        changes = form.changes()
        try:
            with transaction.atomic():
                stored = Project.objects.select_for_update().get(pk=project.pk)
                projects.update_project(stored, **changes)
        except projects.ProjectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if changes:
                messages.success(request, f"Settings saved: {', '.join(changes)}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("dashboard-settings", slug=project.slug)
    return render_settings(request, project, form=form, status=400)
