"""A project's labeler agreement: loads rankings into arrays, runs ``agreement_stats``, caches.

``project_agreement`` is the document ``manage.py agreement --json`` prints and the API
serves. Only current rankings count (a corrected ranking replaces its earlier version).
Filters: ``since`` / ``until`` bound ``submitted_at`` (``until`` exclusive; a date means its
midnight), ``category`` and ``split`` are the prompt's. ``clean_filters`` checks them for the
API, the ``agreement`` command and the dashboard alike, refusing with ``AgreementError``.

Caching: results are kept in Django's cache under a key that contains a fingerprint of the
project's data (newest ranking id, number of rankings, newest/number of skipped
assignments). A new ranking, correction or skip changes the fingerprint, so every process
sees fresh numbers on its next request even with the per-process LocMemCache: nothing has
to reach other processes to invalidate them. Edits that leave the fingerprint alone (a
reviewer changing a gold reference) bump a per-project version through a signal in the
saving process and otherwise age out after ``CACHE_SECONDS``.
"""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from labeling.errors import ServiceError
from labeling.models import (
    LIKERT_MAX,
    Assignment,
    Membership,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    TaskResponse,
)
from labeling.quality import agreement_stats as stats
from labeling.vocabulary import SPLITS

CACHE_SECONDS = 300
_RESPONSE_BITS = 2**40  # (task index, response id) packed into one int64 key


@dataclass
class Dataset:
    """A project's current rankings as arrays, plus what the per-labeler numbers need."""

    rs: stats.RankingSet
    ranking_ids: np.ndarray  # (n,) database ids, ascending
    task_ids: np.ndarray  # (n_tasks,) database id of each task index
    labeler_ids: list  # database id of each labeler index
    usernames: list
    is_ai: list  # per labeler: an AI labeler's account (Membership.is_ai)
    seconds: np.ndarray  # (n,)
    submitted_day: np.ndarray  # (n,) datetime64[D]
    categories: np.ndarray  # (n,) prompt category per ranking
    skips: np.ndarray  # (n_labelers,) skipped assignments


class AgreementError(ServiceError):
    """A filter of the statistics that selects nothing sensible; ``field`` names it."""


def _aware(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return timezone.make_aware(dt.datetime.combine(value, dt.time.min))


def clean_filters(*, since=None, until=None, category=None, split=None) -> dict:
    """The filters as the statistics take them (empty ones as None), or AgreementError."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not isinstance(value, dt.date):
            raise AgreementError(name, "must be a date or a date and time")
    if since is not None and until is not None and _aware(until) <= _aware(since):
        raise AgreementError("until", "must be later than since (until is exclusive)")
    category, split = category or None, split or None
    if category is not None and category not in Prompt.Category.values:
        raise AgreementError("category", f"must be one of {', '.join(Prompt.Category.values)}")
    if split is not None and split not in SPLITS:
        raise AgreementError("split", f"must be one of {', '.join(SPLITS)}")
    return {"since": since, "until": until, "category": category, "split": split}


def _filtered(queryset, at: str, *, since, until, category, split):
    """Rows of a task's work (a ranking, an assignment) within the dashboard's filters; ``at``
    names the row's time field."""
    if since is not None:
        queryset = queryset.filter(**{f"{at}__gte": _aware(since)})
    if until is not None:
        queryset = queryset.filter(**{f"{at}__lt": _aware(until)})
    if category:
        queryset = queryset.filter(task__prompt__category=category)
    if split:
        queryset = queryset.filter(task__prompt__split=split)
    return queryset


def current_rankings(project, *, since=None, until=None, category=None, split=None):
    rankings = Ranking.objects.filter(task__project=project, is_current=True)
    return _filtered(
        rankings, "submitted_at", since=since, until=until, category=category, split=split
    )


def _skips(project, *, since, until, category, split):
    skipped = Assignment.objects.filter(task__project=project, status=Assignment.Status.SKIPPED)
    skipped = _filtered(
        skipped, "finished_at", since=since, until=until, category=category, split=split
    )
    return dict(skipped.values_list("labeler_id").annotate(n=Count("id")).order_by())


def load(project, *, since=None, until=None, category=None, split=None) -> Dataset:
    filters = {"since": since, "until": until, "category": category, "split": split}
    rankings = current_rankings(project, **filters)
    rows = _fetch(
        rankings.annotate(day=TruncDate("submitted_at"))
        .order_by("id")
        .values_list(
            "id", "task_id", "labeler_id", "seconds_spent", "day", "task__prompt__category"
        )
    )
    n = len(rows)
    ranking_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    task_ids, task_index = np.unique(
        np.fromiter((r[1] for r in rows), dtype=np.int64, count=n), return_inverse=True
    )
    skips = _skips(project, **filters)
    labeler_ids = sorted({r[2] for r in rows} | set(skips))
    position = {pk: i for i, pk in enumerate(labeler_ids)}
    names = dict(get_user_model().objects.filter(pk__in=labeler_ids).values_list("pk", "username"))
    ai_ids = set(
        Membership.objects.filter(project=project, is_ai=True, user_id__in=labeler_ids).values_list(
            "user_id", flat=True
        )
    )

    items = _fetch(
        RankingItem.objects.filter(ranking__in=rankings.values("id"))
        .order_by()
        .values_list("ranking_id", "response_id", "rank", "likert", "flags")
    )
    columns = list(zip(*items, strict=True)) or [(), (), (), (), ()]
    item_row = np.searchsorted(ranking_ids, np.array(columns[0], dtype=np.int64))
    response_ids = np.array(columns[1], dtype=np.int64)
    unit_keys, item_col = _columns(task_index[item_row], response_ids)

    ranks = np.full((n, stats.MAX_K), np.nan)
    ranks[item_row, item_col] = np.array(columns[2], dtype=float)
    likert = np.full((n, stats.MAX_K), np.nan)
    likert[item_row, item_col] = np.array(columns[3], dtype=float)  # None becomes NaN
    flags = _flag_arrays(project, columns[4], item_row, item_col, n)
    gold = _gold(project, task_ids, unit_keys, n_rows=n, task_index=task_index)

    return Dataset(
        rs=stats.RankingSet(
            task=task_index.astype(np.int64),
            labeler=np.array([position[r[2]] for r in rows], dtype=np.int64),
            ranks=ranks,
            likert=likert,
            flags=flags,
            gold=gold,
        ),
        ranking_ids=ranking_ids,
        task_ids=task_ids,
        labeler_ids=labeler_ids,
        usernames=[names.get(pk, str(pk)) for pk in labeler_ids],
        is_ai=[pk in ai_ids for pk in labeler_ids],
        seconds=np.fromiter((r[3] for r in rows), dtype=float, count=n),
        # A date (PostgreSQL) or its ISO text (SQLite).
        submitted_day=np.array([str(r[4])[:10] for r in rows], dtype="datetime64[D]"),
        categories=np.array([r[5] for r in rows], dtype=object),
        skips=np.array([skips.get(pk, 0) for pk in labeler_ids], dtype=float),
    )


def _fetch(queryset) -> list[tuple]:
    """The queryset's rows straight from the cursor: Django's per-row conversions cost more
    than the query at 650,000 items. JSON comes back as text (parsed by the caller only when
    it is not empty) and datetimes as the backend gives them."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _columns(item_task, response_ids):
    """Column of each item: the response's place among its task's responses (by id), so the
    same response has the same column in every ranking of the task."""
    keys = item_task.astype(np.int64) * _RESPONSE_BITS + response_ids
    unit_keys, inverse = np.unique(keys, return_inverse=True)
    unit_task = unit_keys // _RESPONSE_BITS
    column = np.arange(len(unit_keys)) - np.searchsorted(unit_task, unit_task, side="left")
    return unit_keys, column[inverse]


def _flag_arrays(project, flag_texts, item_row, item_col, n):
    """Per flag, (n, 9): 1 where the item carries it, 0 where not, NaN where there is no item.

    Items come with their flags as JSON text, and few distinct flag combinations occur, so
    each distinct text is parsed once and items look theirs up (~30x faster than parsing
    650,000 lists).
    """
    present = np.full((n, stats.MAX_K), np.nan)
    present[item_row, item_col] = 0.0
    codes: dict = {}
    item_code = np.array([codes.setdefault(t, len(codes)) for t in flag_texts], dtype=np.int64)
    names = list(project.flags or [])
    parsed = []
    for text in codes:
        value = json.loads(text) if isinstance(text, str) else (text or [])
        parsed.append(value)
        names.extend(name for name in value if name not in names)
    arrays = {}
    for name in names:
        has = np.array([name in value for value in parsed], dtype=bool)
        hit = has[item_code] if len(item_code) else np.zeros(0, dtype=bool)
        values = present.copy()
        values[item_row[hit], item_col[hit]] = 1.0
        arrays[name] = values
    return arrays


def _contains(sorted_array, value) -> bool:
    at = int(np.searchsorted(sorted_array, value))
    return at < len(sorted_array) and sorted_array[at] == value


def _gold(project, task_ids, unit_keys, *, n_rows, task_index):
    """Per ranking row, the gold reference ranks laid out in the row's columns."""
    gold_tasks = {
        pk: ranks
        for pk, ranks in RankingTask.objects.filter(project=project, is_gold=True).values_list(
            "pk", "gold_ranks"
        )
        if _contains(task_ids, pk)
    }
    out = np.full((n_rows, stats.MAX_K), np.nan)
    if not gold_tasks:
        return out
    # Index of each task's first unit: the column of unit u is u - first_unit[task].
    first_unit = np.searchsorted(unit_keys, np.arange(len(task_ids)) * _RESPONSE_BITS)
    per_task = np.full((len(task_ids), stats.MAX_K), np.nan)
    rows = list(
        TaskResponse.objects.filter(task_id__in=list(gold_tasks)).values_list(
            "task_id", "response_id", "position"
        )
    )
    if not rows:
        return out
    task_col, response_col, position_col = (
        np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)
    )
    references = np.array(
        [
            ranks[pos] if pos < len(ranks) else np.nan
            for ranks, pos in (
                (gold_tasks[t] or [], p)
                for t, p in zip(task_col.tolist(), position_col.tolist(), strict=True)
            )
        ],
        dtype=float,
    )
    t = np.searchsorted(task_ids, task_col)
    keys = t * _RESPONSE_BITS + response_col
    u = np.minimum(np.searchsorted(unit_keys, keys), len(unit_keys) - 1)
    found = unit_keys[u] == keys
    per_task[t[found], (u - first_unit[t])[found]] = references[found]
    return per_task[task_index]


# --- the documents --------------------------------------------------------------------------


def _num(value):
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _labelers(data: Dataset, pc) -> list[dict]:
    rs = data.rs
    count = len(data.labeler_ids)
    agreement = stats.labeler_agreement(rs, pc, count)
    gold = stats.labeler_gold_agreement(rs, count)
    n_rankings = np.bincount(rs.labeler, minlength=count)
    medians = stats.grouped_median(rs.labeler, data.seconds, count)
    done = n_rankings + data.skips
    rows = []
    for i, name in enumerate(data.usernames):
        rows.append(
            {
                "username": name,
                "is_ai": data.is_ai[i],
                "agreement": _num(agreement[i]),
                "gold_agreement": _num(gold[i]),
                "n_rankings": int(n_rankings[i]),
                "median_seconds": _num(medians[i]),
                "skip_rate": _num(data.skips[i] / done[i]) if done[i] else None,
            }
        )
    return sorted(rows, key=lambda row: row["username"])


def compute_document(data: Dataset) -> dict:
    result = stats.summary(data.rs, likert_max=LIKERT_MAX)
    return {
        "pairwise_agreement": _num(result["pairwise_agreement"]),
        "pairwise_agreement_ci": [_num(x) for x in result["pairwise_agreement_ci"]],
        "tie_rate": _num(result["tie_rate"]),
        "kendall_tau_b": _num(result["kendall_tau_b"]),
        "krippendorff_alpha_ordinal": _num(result["krippendorff_alpha_ordinal"]),
        "likert_alpha_interval": _num(result["likert_alpha_interval"]),
        "flags": {
            name: {"alpha": _num(values["alpha"]), "rate": _num(values["rate"])}
            for name, values in sorted(result["flags"].items())
        },
        "labelers": _labelers(data, result["pair_counts"]),
        "n_tasks_with_overlap": int(result["n_tasks_with_overlap"]),
    }


def project_agreement(project, *, since=None, until=None, category=None, split=None) -> dict:
    """The agreement document (see ``manage.py agreement``); cached, see the module docstring."""
    filters = clean_filters(since=since, until=until, category=category, split=split)
    return cached(project, "document", filters, lambda: compute_document(load(project, **filters)))


# --- cache ------------------------------------------------------------------------------------


def _version_key(project_id):
    return f"preflab:agreement-version:{project_id}"


def bump_version(project_id):
    """Invalidate this process's cached statistics of a project (after the transaction)."""

    def bump():
        try:
            cache.incr(_version_key(project_id))
        except ValueError:  # not there yet
            cache.set(_version_key(project_id), 1, None)

    transaction.on_commit(bump)


def fingerprint(project) -> str:
    rankings = Ranking.objects.filter(task__project=project).aggregate(
        n=Count("id"), last=Max("id")
    )
    skipped = Assignment.objects.filter(
        task__project=project, status=Assignment.Status.SKIPPED
    ).aggregate(n=Count("id"), last=Max("id"))
    version = cache.get(_version_key(project.pk), 0)
    return f"{rankings['n']}.{rankings['last']}.{skipped['n']}.{skipped['last']}.{version}"


def cached(project: Project, kind: str, filters: dict, compute):
    text = json.dumps({k: str(v) if v is not None else None for k, v in filters.items()})
    digest = hashlib.sha256(f"{fingerprint(project)}|{text}".encode()).hexdigest()[:24]
    key = f"preflab:agreement:{kind}:{project.pk}:{digest}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def on_task_saved(sender, instance, **kwargs):
    """post_save of RankingTask: a gold reference may have changed."""
    bump_version(instance.project_id)


# --- dashboard --------------------------------------------------------------------------------


def compute_dashboard(project, data: Dataset, *, worst=25) -> dict:
    """Everything the dashboard draws, as plain lists (cacheable, JSON-able)."""
    rs = data.rs
    document = compute_document(data)
    pc = stats.pair_counts(rs)
    count = len(data.labeler_ids)

    days = sorted({str(d) for d in data.submitted_day.tolist()})
    throughput = {}
    for i, name in enumerate(data.usernames):
        mine = data.submitted_day[rs.labeler == i]
        per_day = dict(zip(*np.unique(mine.astype(str), return_counts=True), strict=True))
        throughput[name] = [int(per_day.get(day, 0)) for day in days]

    # A ranking pair counts on the day of its later ranking.
    pair_day = np.maximum(data.submitted_day[pc.i], data.submitted_day[pc.j]).astype(str)
    agreement_days, agreement_values = stats.grouped_ratio(
        pair_day, pc.agree, pc.agree + pc.disagree
    )

    matrix, shared = stats.labeler_pair_matrix(rs, pc, count)
    any_flag = np.zeros_like(rs.ranks)
    for values in rs.flags.values():
        any_flag = np.maximum(any_flag, np.nan_to_num(values))
    present = ~np.isnan(rs.ranks)
    items = np.bincount(rs.labeler, present.sum(axis=1), count)
    flagged = np.bincount(rs.labeler, (any_flag * present).sum(axis=1), count)
    labelers = []
    flag_rate = {
        name: (float(flagged[i] / items[i]) if items[i] else None)
        for i, name in enumerate(data.usernames)
    }
    for row in document["labelers"]:
        agreement = row["agreement"]
        below = agreement is not None and agreement < project.agreement_threshold
        labelers.append({**row, "flag_rate": flag_rate[row["username"]], "below": below})

    categories = sorted(set(data.categories.tolist()))
    flag_names = sorted(rs.flags)
    by_category = []
    for category in categories:
        rows = data.categories == category
        cells = present[rows].sum()
        by_category.append(
            [
                float(np.nansum(rs.flags[name][rows]) / cells) if cells else None
                for name in flag_names
            ]
        )

    task_agree, task_strict = stats.per_task_counts(rs, pc)
    overlap_tasks = np.unique(rs.task[pc.i])
    with np.errstate(invalid="ignore", divide="ignore"):
        task_ratio = np.where(task_strict > 0, task_agree / np.maximum(task_strict, 1), np.nan)
    order = np.argsort(np.where(np.isnan(task_ratio), np.inf, task_ratio), kind="stable")
    disagreements = [
        {
            "task_id": int(data.task_ids[overlap_tasks[k]]),
            "agreement": float(task_ratio[k]),
            "compared": int(task_strict[k]),
        }
        for k in order[:worst]
        if not np.isnan(task_ratio[k])
    ]
    flag_details = stats.flag_stats(rs)
    return {
        "document": document,
        "labelers": labelers,
        "days": days,
        "throughput": throughput,
        "agreement_days": [str(d) for d in agreement_days.tolist()],
        "agreement_by_day": [_num(v) for v in agreement_values.tolist()],
        "usernames": list(data.usernames),
        "pair_matrix": [[_num(v) for v in row] for row in matrix.tolist()],
        "pair_shared": shared.astype(int).tolist(),
        "categories": categories,
        "flag_names": flag_names,
        "flag_rates_by_category": by_category,
        "fleiss_kappa": {name: _num(v["fleiss_kappa"]) for name, v in flag_details.items()},
        "disagreements": disagreements,
    }


def project_dashboard(project, *, since=None, until=None, category=None, split=None) -> dict:
    filters = clean_filters(since=since, until=until, category=category, split=split)
    return cached(
        project, "dashboard", filters, lambda: compute_dashboard(project, load(project, **filters))
    )
