"""import_evaluations: outside pairwise judgments in Chatbot Arena's convention.

    {"prompt": "...", "model_a": "gpt-x", "model_b": "ours-7", "response_a": "...",
     "response_b": "...", "winner": "model_a" | "model_b" | "tie", "labeler": "annotator-3"}

One file is one transaction (``labeling.intake.importers.import_rows``): a bad row stops the
import with ``file:line: field: message`` and nothing is written. The campaign is created on
first import (status open, pairwise), and each model name becomes a contestant of it. Prompts
and answers become the project's prompts and responses (deduplicated as every import's are);
an arena has many battles per prompt, so each judgment keeps the two answers it judged.
"""

from labeling.intake.importers import (
    RowError,
    book_prompt,
    category_field,
    completion_text,
    prompt_fields,
    text_field,
)
from labeling.intake.prompts import DuplicatePrompt, PromptBook
from labeling.intake.responses import ResponseError, get_or_create_response

from .models import Campaign, Contestant, OutsideJudgment

WINNERS = tuple(OutsideJudgment.Winner.values)


def campaign_for_import(project, name: str) -> Campaign:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise RowError("campaign", "1 to 100 characters")
    campaign, _ = Campaign.objects.get_or_create(
        project=project,
        name=name,
        defaults={"status": Campaign.Status.OPEN, "format": Campaign.Format.PAIRWISE},
    )
    return campaign


class EvaluationRows:
    def __init__(self, project, *, campaign: str, **options):
        self.project = project
        self.book = PromptBook(project)
        self.campaign = campaign_for_import(project, campaign)
        self.contestants = {c.name: c for c in self.campaign.contestants.all()}

    def _contestant(self, record, field) -> Contestant:
        name = text_field(record, field).strip()
        if len(name) > 200:
            raise RowError(field, "at most 200 characters")
        if name not in self.contestants:
            self.contestants[name], _ = Contestant.objects.get_or_create(
                campaign=self.campaign, name=name
            )
        return self.contestants[name]

    def _answer(self, prompt, record, field, model):
        text = completion_text(record.get(field), field)
        try:
            return get_or_create_response(prompt, text, model_name=model.name)
        except ResponseError as exc:
            raise RowError(field, exc.message) from exc

    def __call__(self, record) -> None:
        model_a = self._contestant(record, "model_a")
        model_b = self._contestant(record, "model_b")
        if model_a == model_b:
            raise RowError("model_b", "is the same model as model_a")
        winner = record.get("winner")
        if winner not in WINNERS:
            raise RowError("winner", f"must be one of {', '.join(WINNERS)}")
        labeler = record.get("labeler") or ""
        if not isinstance(labeler, str) or len(labeler) > 150:
            raise RowError("labeler", "must be a string of at most 150 characters")
        text, messages = prompt_fields(record)
        try:
            prompt = book_prompt(self.book, text, messages, category=category_field(record))
        except DuplicatePrompt as exc:  # an import would skip it; a judgment must not be lost
            raise RowError("prompt", "shares its prefix with a different prompt (dedup)") from exc
        OutsideJudgment.objects.create(
            campaign=self.campaign,
            prompt=prompt,
            model_a=model_a,
            model_b=model_b,
            response_a=self._answer(prompt, record, "response_a", model_a),
            response_b=self._answer(prompt, record, "response_b", model_b),
            winner=winner,
            labeler=labeler,
        )
