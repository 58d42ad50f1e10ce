"""Helpers for export tests: rank tasks quickly and run export commands."""

import gzip
import json
from io import StringIO

from django.core.management import call_command

from labeling.assignment.rankings import ItemInput, record_ranking


def rank(task, labeler, ranks):
    return record_ranking(task, labeler, [ItemInput(rank=r) for r in ranks])


def export(command, project="campaign", *args) -> str:
    out, err = StringIO(), StringIO()
    call_command(command, "--project", project, *args, stdout=out, stderr=err)
    return out.getvalue()


def read_jsonl(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def parse_jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]
