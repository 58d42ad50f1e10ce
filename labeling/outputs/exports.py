"""Export rows: comparisons (pairs), rankings (grouped) and demonstrations, as generators.

Nothing here materialises a whole export: rankings are read with one query through a
server-side cursor (``connection.chunked_cursor()``, a named cursor on PostgreSQL) in
``(ranking, position)`` order and expanded one ranking at a time, so memory stays
constant whatever the number of rows. Only current rankings (``is_current``) count.

Row order is deterministic (ranking id, then pair order of ``ordered_pairs``), which is
what makes a frozen snapshot byte-identical when it is written again.

Column conventions (docs/architecture.md):
  pairs:          prompt, chosen, rejected, ranking_id, task_id, labeler, split
  grouped:        prompt, responses[], ranks[], ranking_id, task_id, labeler, split
  demonstrations: prompt, completion (or messages), demonstration_id, labeler, split
``prompt`` is the text, or the message list for multi-turn prompts. A project with any
multi-turn prompt in the selection is exported conversationally throughout (text prompts
become one user turn, chosen/rejected/completion one assistant turn — TRL's
conversational formats), so that every row has the same column types (Parquet and HF
``datasets`` need that, and TRL would refuse a mix).
"""

import json
from collections.abc import Iterator
from itertools import groupby

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from labeling.models import (
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)
from labeling.outputs.comparisons import ordered_pairs
from labeling.vocabulary import SPLITS, DemonstrationStatus

KINDS = ("comparisons", "rankings", "demonstrations")
DEMONSTRATION_STATUSES = (*DemonstrationStatus.values, "all")
DEMONSTRATION_STYLES = ("prompt_completion", "messages")
CONSENSUS_LABELER = "consensus"
FETCH_ROWS = 5_000


class ExportError(ValueError):
    """A bad export option; the message starts with the option's name."""


def clean_options(kind: str, options: dict) -> dict:
    """Options with defaults filled in, or ExportError naming the bad one.

    One function for the API, the commands and snapshots, so the three accept exactly
    the same options and a snapshot's stored options reproduce it.
    """
    if kind not in KINDS:
        raise ExportError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    options = {k: v for k, v in options.items() if v is not None}
    clean = {"split": options.pop("split", None) or None}
    if clean["split"] is not None and clean["split"] not in SPLITS:
        raise ExportError(f"split: {clean['split']!r} is not one of {', '.join(SPLITS)}")
    conversational = options.pop("conversational", None)
    if conversational is not None and not isinstance(conversational, bool):
        raise ExportError("conversational: must be true or false")
    clean["conversational"] = conversational
    if kind == "demonstrations":
        status = options.pop("status", "accepted")
        if status not in DEMONSTRATION_STATUSES:
            raise ExportError(
                f"status: {status!r} is not one of {', '.join(DEMONSTRATION_STATUSES)}"
            )
        style = options.pop("style", "prompt_completion")
        if style not in DEMONSTRATION_STYLES:
            raise ExportError(f"style: {style!r} is not one of {', '.join(DEMONSTRATION_STYLES)}")
        clean.update(status=status, style=style)
    else:
        for name in ("consensus", "include_gold"):
            value = options.pop(name, False)
            if not isinstance(value, bool):
                raise ExportError(f"{name}: must be true or false")
            clean[name] = value
        min_agreement = options.pop("min_agreement", None)
        if min_agreement is not None:
            if isinstance(min_agreement, bool) or not isinstance(min_agreement, int | float):
                raise ExportError("min_agreement: must be a number")
            if not 0.0 <= float(min_agreement) <= 1.0:
                raise ExportError("min_agreement: must lie in 0..1")
            min_agreement = float(min_agreement)
        clean["min_agreement"] = min_agreement
    if options:
        raise ExportError(f"{sorted(options)[0]}: unknown option for {kind} exports")
    return clean


def resolve_options(kind: str, project: Project, options: dict) -> dict:
    """clean_options, with ``conversational`` decided from the data when not given."""
    clean = clean_options(kind, options)
    if clean["conversational"] is None:
        clean["conversational"] = is_conversational(project, clean["split"])
    return clean


def export_rows(kind: str, project: Project, **options) -> Iterator[dict]:
    options = clean_options(kind, options)
    return ROW_GENERATORS[kind](project, **options)


def arrow_schema(kind: str, options: dict):
    from labeling.outputs.export_formats import schema

    return schema(
        kind,
        conversational=bool(options.get("conversational")),
        style=options.get("style", "prompt_completion"),
    )


def export_to_path(kind, project, path, *, file_format="jsonl", gzip=False, **options) -> int:
    """Write an export to a file (or a folder for ``hf``); returns the number of rows."""
    from labeling.outputs.export_formats import write

    options = resolve_options(kind, project, options)
    rows = ROW_GENERATORS[kind](project, **options)
    return write(
        rows, path, file_format=file_format, arrow_schema=arrow_schema(kind, options), gzip=gzip
    )


def is_conversational(project: Project, split: str | None = None) -> bool:
    prompts = Prompt.objects.filter(project=project, messages__isnull=False)
    if split:
        prompts = prompts.filter(split=split)
    return prompts.exists()


def _user_turn(prompt):
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def _assistant_turn(text: str):
    return [{"role": "assistant", "content": text}]


# --- rankings, read once ---------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _filters(project_id, *, split, include_gold):
    where, params = ["t.project_id = %s", "r.is_current"], [project_id]
    if not include_gold:
        where.append("NOT t.is_gold")
    if split:
        where.append("p.split = %s")
        params.append(split)
    return " AND ".join(where), params


def _ranking_query(project_id, *, split, include_gold, by_task):
    """Portable SQL: every item of every current ranking, in (ranking, position) order."""
    user = get_user_model()
    where, params = _filters(project_id, split=split, include_gold=include_gold)
    order = "r.task_id, r.id, tr.position" if by_task else "r.id, tr.position"
    sql = f"""
        SELECT r.id, r.task_id, u.{connection.ops.quote_name(user.USERNAME_FIELD)},
               p.text, p.messages, p.split, rs.text, ri.rank
        FROM {_table(Ranking)} r
        JOIN {_table(RankingTask)} t ON t.id = r.task_id
        JOIN {_table(Prompt)} p ON p.id = t.prompt_id
        JOIN {_table(user)} u ON u.id = r.labeler_id
        JOIN {_table(RankingItem)} ri ON ri.ranking_id = r.id
        JOIN {_table(TaskResponse)} tr
             ON tr.task_id = r.task_id AND tr.response_id = ri.response_id
        JOIN {_table(Response)} rs ON rs.id = ri.response_id
        WHERE {where}
        ORDER BY {order}
    """
    return sql, params


def _grouped_query(project_id, *, split, include_gold, by_task):
    """PostgreSQL: one row per ranking with its texts and ranks as arrays in position order.

    Sorting item rows that carry the texts made PostgreSQL spill a wide external sort to
    disk (half the export's time at 1M pairs); here only one row per ranking is ordered,
    and each ranking's items come from index lookups in a LATERAL subquery.
    """
    user = get_user_model()
    where, params = _filters(project_id, split=split, include_gold=include_gold)
    order = "r.task_id, r.id" if by_task else "r.id"
    sql = f"""
        SELECT r.id, r.task_id, u.{connection.ops.quote_name(user.USERNAME_FIELD)},
               p.text, p.messages, p.split, x.texts, x.ranks
        FROM {_table(Ranking)} r
        JOIN {_table(RankingTask)} t ON t.id = r.task_id
        JOIN {_table(Prompt)} p ON p.id = t.prompt_id
        JOIN {_table(user)} u ON u.id = r.labeler_id
        CROSS JOIN LATERAL (
            SELECT array_agg(rs.text ORDER BY tr.position) AS texts,
                   array_agg(ri.rank ORDER BY tr.position) AS ranks
            FROM {_table(RankingItem)} ri
            JOIN {_table(TaskResponse)} tr
                 ON tr.task_id = r.task_id AND tr.response_id = ri.response_id
            JOIN {_table(Response)} rs ON rs.id = ri.response_id
            WHERE ri.ranking_id = r.id
        ) x
        WHERE {where}
        ORDER BY {order}
    """
    return sql, params


def _fetch(sql, params, size=FETCH_ROWS) -> Iterator[tuple]:
    # A transaction lets PostgreSQL use a plain (not WITH HOLD) named cursor, which
    # streams rows as they are produced instead of materialising the result at commit.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(size)
            if not chunk:
                return
            yield from chunk


def _prompt_value(text, messages, conversational):
    if messages is not None and isinstance(messages, str):
        messages = json.loads(messages)  # Django reads jsonb/JSON as text for from_db_value
    prompt = messages if messages else text
    return _user_turn(prompt) if conversational else prompt


# Tests flip this to run the portable item-level query on PostgreSQL too.
USE_ARRAY_QUERY = True


def ranking_groups(project, *, split=None, include_gold=False, by_task=False, conversational):
    """(ranking_id, task_id, labeler, prompt, split, texts, ranks), one ranking at a time."""
    query = dict(split=split, include_gold=include_gold, by_task=by_task)
    if connection.vendor == "postgresql" and USE_ARRAY_QUERY:
        sql, params = _grouped_query(project.pk, **query)
        # a row here is a whole ranking (up to 9 texts): fetch fewer at a time
        for ranking_id, task_id, labeler, text, messages, split_name, texts, ranks in _fetch(
            sql, params, FETCH_ROWS // 5
        ):
            if texts:  # a ranking always has items; the guard keeps a broken row out
                prompt = _prompt_value(text, messages, conversational)
                yield ranking_id, task_id, labeler, prompt, split_name, texts, list(ranks)
        return
    sql, params = _ranking_query(project.pk, **query)
    for ranking_id, rows in groupby(_fetch(sql, params), key=lambda row: row[0]):
        rows = list(rows)  # at most 9 items
        first = rows[0]
        yield (
            ranking_id,
            first[1],
            first[2],
            _prompt_value(first[3], first[4], conversational),
            first[5],
            [row[6] for row in rows],
            [row[7] for row in rows],
        )


def _task_groups(project, *, split, include_gold, consensus, min_agreement, conversational):
    """Rankings grouped by task, reduced to one consensus ranking and/or filtered by
    agreement when asked; otherwise the rankings as they are."""
    groups = ranking_groups(
        project,
        split=split,
        include_gold=include_gold,
        by_task=consensus or min_agreement is not None,
        conversational=conversational,
    )
    if not consensus and min_agreement is None:
        yield from groups
        return
    from labeling.quality import consensus as consensus_module

    for task_id, rankings in groupby(groups, key=lambda g: g[1]):
        rankings = list(rankings)  # at most the task's overlap
        rank_lists = [g[6] for g in rankings]
        # The share of labeler pairs × response pairs ordered alike; NaN (one labeler,
        # or nothing both ordered strictly) compares False, so such tasks are kept.
        if (
            min_agreement is not None
            and consensus_module.task_agreement(rank_lists) < min_agreement
        ):
            continue
        if not consensus:
            yield from rankings
            continue
        first = rankings[0]
        ranks = consensus_module.consensus_ranks(rank_lists)
        if len(set(ranks)) < 2:
            continue  # labelers cancel out: the consensus compares nothing
        yield (None, task_id, CONSENSUS_LABELER, first[3], first[4], first[5], list(ranks))


def comparison_rows(
    project,
    *,
    split=None,
    include_gold=False,
    consensus=False,
    min_agreement=None,
    conversational=None,
):
    """Every ranking of K as its C(K,2) ordered pairs (ties give none), best first."""
    if conversational is None:
        conversational = is_conversational(project, split)
    for ranking_id, task_id, labeler, prompt, split_name, texts, ranks in _task_groups(
        project,
        split=split,
        include_gold=include_gold,
        consensus=consensus,
        min_agreement=min_agreement,
        conversational=conversational,
    ):
        if conversational:
            texts = [_assistant_turn(text) for text in texts]
        for winner, loser in ordered_pairs(ranks):
            yield {
                "prompt": prompt,
                "chosen": texts[winner],
                "rejected": texts[loser],
                "ranking_id": ranking_id,
                "task_id": task_id,
                "labeler": labeler,
                "split": split_name,
            }


def grouped_rows(
    project,
    *,
    split=None,
    include_gold=False,
    consensus=False,
    min_agreement=None,
    conversational=None,
):
    """One row per ranking, responses in the task's canonical order; ranks 1 = best."""
    if conversational is None:
        conversational = is_conversational(project, split)
    for ranking_id, task_id, labeler, prompt, split_name, texts, ranks in _task_groups(
        project,
        split=split,
        include_gold=include_gold,
        consensus=consensus,
        min_agreement=min_agreement,
        conversational=conversational,
    ):
        yield {
            "prompt": prompt,
            "responses": texts,
            "ranks": ranks,
            "ranking_id": ranking_id,
            "task_id": task_id,
            "labeler": labeler,
            "split": split_name,
        }


def demonstration_rows(
    project, *, split=None, status="accepted", style="prompt_completion", conversational=None
):
    """Demonstrations as TRL SFT rows: prompt/completion, or messages."""
    if conversational is None:
        conversational = is_conversational(project, split)
    demos = Demonstration.objects.filter(prompt__project=project)
    if status != "all":
        demos = demos.filter(status=status)
    if split:
        demos = demos.filter(prompt__split=split)
    username = f"author__{get_user_model().USERNAME_FIELD}"
    fields = ("id", "prompt__text", "prompt__messages", "prompt__split", username, "text")
    for demo_id, text, messages, split_name, author, completion in (
        demos.order_by("id").values_list(*fields).iterator(chunk_size=FETCH_ROWS)
    ):
        prompt = messages if messages else text
        if style == "messages":
            row = {"messages": _user_turn(prompt) + _assistant_turn(completion)}
        elif conversational:
            row = {"prompt": _user_turn(prompt), "completion": _assistant_turn(completion)}
        else:
            row = {"prompt": prompt, "completion": completion}
        row.update(demonstration_id=demo_id, labeler=author, split=split_name)
        yield row


ROW_GENERATORS = {
    "comparisons": comparison_rows,
    "rankings": grouped_rows,
    "demonstrations": demonstration_rows,
}
