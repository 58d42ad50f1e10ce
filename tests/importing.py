"""Small helpers for import tests: write rows to a file and count what the database holds."""

import gzip
import json
from io import StringIO

from django.core.management import call_command


def write_jsonl(path, rows, *, gz=False):
    text = "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run(command, path, project="imp", *args):
    out, err = StringIO(), StringIO()
    call_command(command, str(path), "--project", project, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts():
    from django.contrib.auth import get_user_model

    from labeling.models import Project, Prompt, Ranking, RankingItem, RankingTask, Response

    return {
        model.__name__: model.objects.count()
        for model in (
            Project,
            Prompt,
            Response,
            RankingTask,
            Ranking,
            RankingItem,
            get_user_model(),
        )
    }


def contents(project_slug):
    """What an import left in a project, comparable across projects: its prompts (text, split,
    author) and responses (prompt text, text, model), sorted."""
    from labeling.models import Prompt, Response

    prompts = Prompt.objects.filter(project__slug=project_slug)
    responses = Response.objects.filter(prompt__project__slug=project_slug)
    return (
        sorted(prompts.values_list("text", "split", "source_user", "external_id", "category")),
        sorted(responses.values_list("prompt__text", "text", "model_name", "origin")),
    )


def in_chunks_of(monkeypatch, rows):
    """Read and write imports ``rows`` at a time (a file larger than one chunk)."""
    from labeling.intake import importers

    monkeypatch.setattr(importers, "CHUNK_ROWS", rows)
