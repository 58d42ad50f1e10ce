"""Forms for the labeler pages. Field names carry the response's canonical position, the
labels its on-page number, so errors speak the labeler's language ("Response 3")."""

import time

from django import forms

from labeling.assignment.rankings import ItemInput
from labeling.limits import MAX_COMMENT_CHARS, MAX_DEMONSTRATION_CHARS, MAX_REVIEW_NOTE_CHARS

SKIP_REASONS = [
    ("expertise", "I lack the knowledge to judge this"),
    ("unclear", "The prompt is unclear or broken"),
    ("content", "Content I am not comfortable reviewing"),
    ("other", "Other (say below)"),
]


def flag_label(flag: str) -> str:
    return flag.replace("_", " ").capitalize()


class RankingForm(forms.Form):
    comment = forms.CharField(required=False, max_length=MAX_COMMENT_CHARS, widget=forms.Textarea)
    all_unacceptable = forms.BooleanField(required=False)
    seconds_spent = forms.FloatField(required=False, min_value=0)
    submission_key = forms.CharField(required=False, max_length=64)

    def __init__(self, *args, task, order, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task
        self.order = order  # canonical positions in display order
        project = task.project
        likert = [(str(v), str(v)) for v in range(1, project.likert_max + 1)]
        flags = [(f, flag_label(f)) for f in project.flags or []]
        for number, pos in enumerate(order, start=1):
            self.fields[f"rank-{pos}"] = forms.IntegerField(
                label=f"Response {number} rank",
                min_value=1,
                max_value=task.k,
                error_messages={"required": f"Response {number} is not ranked yet."},
            )
            self.fields[f"likert-{pos}"] = forms.TypedChoiceField(
                label=f"Response {number} rating",
                choices=likert,
                coerce=int,
                error_messages={
                    "required": f"Response {number} has no rating.",
                    "invalid_choice": f"Response {number}: the rating must be 1 to "
                    f"{project.likert_max}.",
                },
            )
            self.fields[f"flags-{pos}"] = forms.MultipleChoiceField(
                required=False, choices=flags, label=f"Response {number} flags"
            )

    def clean(self):
        data = super().clean()
        ranks = [data.get(f"rank-{pos}") for pos in range(self.task.k)]
        if None not in ranks and len(set(ranks)) < 2:
            raise forms.ValidationError(
                "Put at least two responses on different ranks: all tied compares nothing."
            )
        return data

    def items(self) -> list[ItemInput]:
        """ItemInputs in canonical position order."""
        d = self.cleaned_data
        return [
            ItemInput(rank=d[f"rank-{p}"], likert=d[f"likert-{p}"], flags=d[f"flags-{p}"])
            for p in range(self.task.k)
        ]

    def as_draft(self) -> dict:
        """The posted state in the page's draft format, valid or not."""
        return draft_from_post(self.data, self.task, self.order)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def draft_from_post(data, task, order) -> dict:
    by_rank: dict[int, list[int]] = {}
    likert, flags = {}, {}
    for pos in order:
        rank = _int(data.get(f"rank-{pos}"))
        if rank is not None:
            by_rank.setdefault(rank, []).append(pos)
        value = _int(data.get(f"likert-{pos}"))
        if value is not None:
            likert[str(pos)] = value
        chosen = data.getlist(f"flags-{pos}") if hasattr(data, "getlist") else []
        if chosen:
            flags[str(pos)] = chosen
    try:
        seconds = float(data.get("seconds_spent") or 0)
    except ValueError:
        seconds = 0.0
    return {
        "groups": [by_rank[r] for r in sorted(by_rank)],
        "likert": likert,
        "flags": flags,
        "comment": data.get("comment", "")[:MAX_COMMENT_CHARS],
        "all_unacceptable": data.get("all_unacceptable") in ("on", "true", "1"),
        "seconds": seconds,
        "at": int(time.time() * 1000),
    }


class SkipForm(forms.Form):
    reason = forms.ChoiceField(choices=SKIP_REASONS, label="Why do you skip this task?")
    detail = forms.CharField(required=False, max_length=1000, label="Details")

    def clean(self):
        data = super().clean()
        if data.get("reason") == "other" and not data.get("detail", "").strip():
            raise forms.ValidationError("Say why you skip this task.")
        return data

    def reason_text(self) -> str:
        label = dict(SKIP_REASONS)[self.cleaned_data["reason"]]
        detail = self.cleaned_data.get("detail", "").strip()
        if self.cleaned_data["reason"] == "other":
            return detail
        return f"{label}: {detail}" if detail else label


class DemonstrationForm(forms.Form):
    prompt_id = forms.IntegerField(widget=forms.HiddenInput)
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        label="Your response",
        max_length=MAX_DEMONSTRATION_CHARS,
    )
    seconds_spent = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=MAX_REVIEW_NOTE_CHARS)
