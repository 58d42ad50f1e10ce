"""Export rows: comparisons (pairs), rankings (grouped), demonstrations and prompts, as
generators.

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
  prompts:        prompt, prompt_id, category, split
``prompt`` is the text, or the message list for multi-turn prompts. A project with any
multi-turn prompt in the selection is exported conversationally throughout (text prompts
become one user turn, chosen/rejected/completion one assistant turn — TRL's
conversational formats), so that every row has the same column types (Parquet and HF
``datasets`` need that, and TRL would refuse a mix).

What to export is an ``ExportOptions`` instance (``labeling/outputs/options.py``);
``resolve_options`` checks a mapping into one and decides ``conversational``, and
``export_rows`` is the way in for every caller.
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from itertools import groupby
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from labeling.models import (
    Demonstration,
    Membership,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)
from labeling.outputs.comparisons import ordered_pairs
from labeling.outputs.options import (
    DemonstrationExportOptions,
    ExportOptions,
    PromptExportOptions,
    RankingExportOptions,
    parse_options,
)

CONSENSUS_LABELER = "consensus"
FETCH_ROWS = 5_000


def resolve_options(
    kind: str, project: Project, options: ExportOptions | Mapping | None = None
) -> ExportOptions:
    """``parse_options``, with ``conversational`` decided from the data when not given.

    The one place that decides it, so a snapshot's manifest records the decision and the
    rows follow it.
    """
    options = parse_options(kind, options)
    if options.conversational is None:
        options = replace(options, conversational=is_conversational(project, options.split))
    return options


def export_rows(
    kind: str, project: Project, options: ExportOptions | Mapping | None = None
) -> Iterator[dict]:
    """The export's rows; options are checked (ExportError) before the first row is read."""
    options = resolve_options(kind, project, options)
    return ROW_GENERATORS[kind](project, options)


def arrow_schema(kind: str, options: ExportOptions):
    from labeling.outputs.export_formats import schema

    conversational = bool(options.conversational)
    if isinstance(options, DemonstrationExportOptions):
        return schema(kind, conversational=conversational, style=options.style)
    return schema(kind, conversational=conversational)


def export_to_path(
    kind: str,
    project: Project,
    path,
    *,
    file_format: str = "jsonl",
    gzip: bool = False,
    options: ExportOptions | Mapping | None = None,
) -> int:
    """Write an export to a file (or a folder for ``hf``); returns the number of rows."""
    from labeling.outputs.export_formats import write

    options = resolve_options(kind, project, options)
    return write(
        export_rows(kind, project, options),
        path,
        file_format=file_format,
        arrow_schema=arrow_schema(kind, options),
        gzip=gzip,
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


def _filters(project_id, *, split, include_gold, include_evaluation, include_ai):
    where, params = ["t.project_id = %s", "r.is_current"], [project_id]
    if not include_gold:
        where.append("NOT t.is_gold")
    if not include_ai:
        # one lookup per ranking on the membership's (project, user) unique index
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {_table(Membership)} m WHERE m.project_id = t.project_id"
            " AND m.user_id = r.labeler_id AND m.is_ai)"
        )
    if not include_evaluation:
        # rankings that evaluated policies are not training data (options.py)
        where.append("t.source <> %s")
        params.append(RankingTask.Source.EVALUATION.value)
    if split:
        where.append("p.split = %s")
        params.append(split)
    return " AND ".join(where), params


def _ranking_query(project_id, *, by_task, **filters):
    """Portable SQL: every item of every current ranking, in (ranking, position) order."""
    user = get_user_model()
    where, params = _filters(project_id, **filters)
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


def _grouped_query(project_id, *, by_task, **filters):
    """PostgreSQL: one row per ranking with its texts and ranks as arrays in position order.

    Sorting item rows that carry the texts made PostgreSQL spill a wide external sort to
    disk (half the export's time at 1M pairs); here only one row per ranking is ordered,
    and each ranking's items come from index lookups in a LATERAL subquery.
    """
    user = get_user_model()
    where, params = _filters(project_id, **filters)
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


class RankingGroup(NamedTuple):
    """One ranking as the exports read it, its responses in the task's canonical order."""

    ranking_id: int | None  # None for a task's consensus ranking
    task_id: int
    labeler: str
    prompt: str | list[dict]  # already in the export's shape (see _prompt_value)
    split: str
    texts: list[str]
    ranks: list[int]  # 1 = best; equal ranks are ties


def ranking_groups(
    project,
    *,
    split=None,
    include_gold=False,
    include_evaluation=False,
    include_ai=False,
    by_task=False,
    conversational,
) -> Iterator[RankingGroup]:
    """Every current ranking, one at a time, in ranking order (or task, then ranking)."""
    query = dict(
        split=split,
        include_gold=include_gold,
        include_evaluation=include_evaluation,
        include_ai=include_ai,
        by_task=by_task,
    )
    if connection.vendor == "postgresql" and USE_ARRAY_QUERY:
        sql, params = _grouped_query(project.pk, **query)
        # a row here is a whole ranking (up to 9 texts): fetch fewer at a time
        for ranking_id, task_id, labeler, text, messages, split_name, texts, ranks in _fetch(
            sql, params, FETCH_ROWS // 5
        ):
            if texts:  # a ranking always has items; the guard keeps a broken row out
                yield RankingGroup(
                    ranking_id=ranking_id,
                    task_id=task_id,
                    labeler=labeler,
                    prompt=_prompt_value(text, messages, conversational),
                    split=split_name,
                    texts=texts,
                    ranks=list(ranks),
                )
        return
    sql, params = _ranking_query(project.pk, **query)
    for ranking_id, items in groupby(_fetch(sql, params), key=lambda item: item[0]):
        items = list(items)  # one row per response: at most 9
        _, task_id, labeler, text, messages, split_name, _, _ = items[0]
        yield RankingGroup(
            ranking_id=ranking_id,
            task_id=task_id,
            labeler=labeler,
            prompt=_prompt_value(text, messages, conversational),
            split=split_name,
            texts=[response_text for *_, response_text, _ in items],
            ranks=[rank for *_, rank in items],
        )


def _task_groups(project, options: RankingExportOptions) -> Iterator[RankingGroup]:
    """Rankings grouped by task, reduced to one consensus ranking and/or filtered by
    agreement when asked; otherwise the rankings as they are."""
    consensus, min_agreement = options.consensus, options.min_agreement
    groups = ranking_groups(
        project,
        split=options.split,
        include_gold=options.include_gold,
        include_evaluation=options.include_evaluation,
        include_ai=options.include_ai,
        by_task=consensus or min_agreement is not None,
        conversational=options.conversational,
    )
    if not consensus and min_agreement is None:
        yield from groups
        return
    from labeling.quality import consensus as consensus_module

    for _, rankings in groupby(groups, key=lambda group: group.task_id):
        rankings = list(rankings)  # at most the task's overlap
        rank_lists = [group.ranks for group in rankings]
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
        ranks = consensus_module.consensus_ranks(rank_lists)
        if len(set(ranks)) < 2:
            continue  # labelers cancel out: the consensus compares nothing
        yield rankings[0]._replace(ranking_id=None, labeler=CONSENSUS_LABELER, ranks=list(ranks))


def comparison_rows(project, options: RankingExportOptions) -> Iterator[dict]:
    """Every ranking of K as its C(K,2) ordered pairs (ties give none), best first."""
    conversational = options.conversational
    for group in _task_groups(project, options):
        texts = group.texts
        if conversational:
            texts = [_assistant_turn(text) for text in texts]
        # read once per ranking, not once per pair: a ranking of 9 gives 36 rows
        prompt, ranking_id, task_id = group.prompt, group.ranking_id, group.task_id
        labeler, split_name = group.labeler, group.split
        for winner, loser in ordered_pairs(group.ranks):
            yield {
                "prompt": prompt,
                "chosen": texts[winner],
                "rejected": texts[loser],
                "ranking_id": ranking_id,
                "task_id": task_id,
                "labeler": labeler,
                "split": split_name,
            }


def grouped_rows(project, options: RankingExportOptions) -> Iterator[dict]:
    """One row per ranking, responses in the task's canonical order; ranks 1 = best."""
    for group in _task_groups(project, options):
        yield {
            "prompt": group.prompt,
            "responses": group.texts,
            "ranks": group.ranks,
            "ranking_id": group.ranking_id,
            "task_id": group.task_id,
            "labeler": group.labeler,
            "split": group.split,
        }


def demonstration_rows(project, options: DemonstrationExportOptions) -> Iterator[dict]:
    """Demonstrations as TRL SFT rows: prompt/completion, or messages."""
    demos = Demonstration.objects.filter(prompt__project=project)
    if options.status != "all":
        demos = demos.filter(status=options.status)
    if options.split:
        demos = demos.filter(prompt__split=options.split)
    username = f"author__{get_user_model().USERNAME_FIELD}"
    fields = ("id", "prompt__text", "prompt__messages", "prompt__split", username, "text")
    for demo_id, text, messages, split_name, author, completion in (
        demos.order_by("id").values_list(*fields).iterator(chunk_size=FETCH_ROWS)
    ):
        prompt = messages if messages else text
        if options.style == "messages":
            row = {"messages": _user_turn(prompt) + _assistant_turn(completion)}
        elif options.conversational:
            row = {"prompt": _user_turn(prompt), "completion": _assistant_turn(completion)}
        else:
            row = {"prompt": prompt, "completion": completion}
        row.update(demonstration_id=demo_id, labeler=author, split=split_name)
        yield row


def prompt_rows(project, options: PromptExportOptions) -> Iterator[dict]:
    """The prompts that generation and PPO sample from, in id order."""
    prompts = Prompt.objects.filter(project=project)
    if options.split:
        prompts = prompts.filter(split=options.split)
    if options.prompt_ids:
        prompts = prompts.filter(pk__in=options.prompt_ids)
    prompts = prompts.order_by("id")
    if options.limit:
        prompts = prompts[: options.limit]
    fields = ("id", "text", "messages", "category", "split")
    for prompt_id, text, messages, category, split_name in prompts.values_list(*fields).iterator(
        chunk_size=FETCH_ROWS
    ):
        prompt = messages if messages else text
        yield {
            "prompt": _user_turn(prompt) if options.conversational else prompt,
            "prompt_id": prompt_id,
            "category": category,
            "split": split_name,
        }


# Each takes resolved options (``resolve_options``); callers go through ``export_rows``.
ROW_GENERATORS = {
    "comparisons": comparison_rows,
    "rankings": grouped_rows,
    "demonstrations": demonstration_rows,
    "prompts": prompt_rows,
}
