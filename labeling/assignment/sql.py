"""The statements of the labeling hot path (`next` + submit), as plain SQL.

A labeler's round runs these for every ranking collected, so they are a handful of short
statements on one cursor instead of ORM querysets: building the querysets cost ~30 ms of
Python per round, ten times the database's own work (bench/README.md, "Labeling API").
The rules live in ``assignment.py`` and ``rankings.py``; this module only reads and writes
rows. Every statement runs on PostgreSQL and SQLite alike except the row locks, which
SQLite neither has nor needs (its IMMEDIATE transactions serialise writers), and two writes
that PostgreSQL does in one statement each and SQLite in several (claiming a slot, writing a
ranking): SQLite has no INSERT or UPDATE inside WITH.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection

from labeling.assignment.records import Lease, TaskPrompt, TaskRecord, TaskResponse
from labeling.models import (
    Assignment,
    Membership,
    Project,
    Prompt,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
)
from labeling.models import TaskResponse as TaskResponseRow
from preflab.sql_rows import converted, instance
from preflab.sql_rows import cursor as sql_cursor


def _table(model) -> str:
    # Unquoted, as Django names tables (app_model): a plain identifier on every backend.
    return model._meta.db_table


# Table names and statuses come from the models; the statements below are constant text
# built once at import, so each is still one prepared statement.
ASSIGNMENTS, TASKS, PROJECTS = _table(Assignment), _table(RankingTask), _table(Project)
PROMPTS, RESPONSES, TASK_RESPONSES = _table(Prompt), _table(Response), _table(TaskResponseRow)
RANKINGS, ITEMS, MEMBERSHIPS = _table(Ranking), _table(RankingItem), _table(Membership)
ACTIVE, SUBMITTED = f"'{Assignment.Status.ACTIVE}'", f"'{Assignment.Status.SUBMITTED}'"
HELD = f"({ACTIVE}, {SUBMITTED})"  # statuses counted in RankingTask.n_held
# Sources of the tasks served to labelers; imported preferences are already ranked.
SERVED = f"('{RankingTask.Source.LABELING}', '{RankingTask.Source.EVALUATION}')"


def _lock(of: str, *, skip_locked: bool = False) -> str:
    """Row-lock clause for one table of a SELECT (empty where the backend has none).

    NO KEY UPDATE: the lock must not block inserts of rows that reference the locked one
    (a ranking of the task, an assignment of the labeler) by other transactions.
    """
    if not connection.features.has_select_for_update:
        return ""
    return f" FOR NO KEY UPDATE OF {of}" + (" SKIP LOCKED" if skip_locked else "")


def _param(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _one(sql: str, params) -> tuple | None:
    with sql_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _insert(sql: str, params) -> int:
    """Run an INSERT of one row; its id."""
    with sql_cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(sql + " RETURNING id", params)
            return cursor.fetchone()[0]
        cursor.execute(sql, params)
        return cursor.lastrowid


# --- next ----------------------------------------------------------------------------------


def project_by_slug(slug: str) -> Project | None:
    columns = tuple(field.attname for field in Project._meta.concrete_fields)
    row = _one(f"SELECT {', '.join(columns)} FROM {PROJECTS} WHERE slug = %s", [slug])
    return instance(Project, columns, row) if row else None


def lock_labeler(project_id: int, user_id: int) -> str | None:
    """Lock the labeler's user row, so that one labeler's concurrent `next`s (two tabs, a
    retried request) queue here and never get two tasks; their role in the project."""
    users = _table(get_user_model())
    row = _one(
        f"""SELECT (SELECT m.role FROM {MEMBERSHIPS} m
                     WHERE m.project_id = %s AND m.user_id = u.id)
            FROM {users} u WHERE u.id = %s{_lock("u")}""",
        [project_id, user_id],
    )
    return row[0] if row else None


_LEASE = ("id", "task_id", "labeler_id", "status", "leased_at", "expires_at")


def open_lease(project_id: int, user_id: int, now: datetime) -> Lease | None:
    """The labeler's unexpired active assignment in the project. A statement of its own
    after ``lock_labeler``: its snapshot must include what the tab that held the lock just
    committed (under READ COMMITTED each statement sees what was committed before it began,
    and a statement that waited for a lock began before that commit)."""
    row = _one(
        f"""SELECT {", ".join(f"a.{c}" for c in _LEASE)} FROM {ASSIGNMENTS} a
           JOIN {TASKS} t ON t.id = a.task_id
           WHERE t.project_id = %s AND a.labeler_id = %s AND a.status = {ACTIVE}
             AND a.expires_at > %s
           ORDER BY a.leased_at LIMIT 1""",
        [project_id, user_id, _param(now)],
    )
    return Lease(*converted(Assignment, _LEASE, row)) if row else None


def _eligible(*, lapsed: bool) -> str:
    """WHERE clause of the served tasks of a project (params: project, gold, [now,] user,
    user) that have a free slot by their count and that the labeler never held or ranked:
    the one statement of who may get which task, for `next` and for the queue's size.

    ``lapsed``: instead of a free slot by the count, tasks counted full only because a lease
    ran out and no sweep has marked it expired yet.
    """
    if lapsed:
        is_open = (
            f"t.id IN (SELECT a.task_id FROM {ASSIGNMENTS} a"
            f" WHERE a.status = {ACTIVE} AND a.expires_at <= %s)"
        )
    else:
        is_open = "t.n_held < t.overlap"  # the partial index task_open_fullest
    # OFFSET 0 keeps each NOT EXISTS a probe of one index entry per candidate: unfenced, the
    # generic plan of the prepared statement reads all of the labeler's assignments and
    # rankings on every call, which grows with their history.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    return f"""t.project_id = %s AND t.is_gold = %s AND t.source IN {SERVED} AND {is_open}
              AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENTS} a
                               WHERE a.task_id = t.id AND a.labeler_id = %s{fence})
              AND NOT EXISTS (SELECT 1 FROM {RANKINGS} r
                               WHERE r.task_id = t.id AND r.labeler_id = %s{fence})"""


def lock_open_task(
    project_id: int, user_id: int, now: datetime, *, gold: bool, lapsed: bool, rejected: list
) -> tuple[int, int, int] | None:
    """(id, overlap, n_held) of the fullest eligible task (``_eligible``), locked (others'
    candidates skipped); None when there is none."""
    params = [project_id, gold, *([_param(now)] if lapsed else []), user_id, user_id]
    not_rejected = ""
    if rejected:
        not_rejected = f" AND t.id NOT IN ({', '.join(['%s'] * len(rejected))})"
    return _one(
        f"""SELECT t.id, t.overlap, t.n_held FROM {TASKS} t
            WHERE {_eligible(lapsed=lapsed)}{not_rejected}
            ORDER BY t.n_held DESC, t.id LIMIT 1{_lock("t", skip_locked=True)}""",
        [*params, *rejected],
    )


def count_eligible(project_id: int, user_id: int, now: datetime, *, gold: bool) -> int:
    """How many tasks ``lock_open_task`` could still hand the labeler (either kind of free
    slot)."""
    open_ = _eligible(lapsed=False)
    lapsed = _eligible(lapsed=True)
    row = _one(
        f"""SELECT COUNT(*) FROM {TASKS} t WHERE ({open_}) OR ({lapsed})""",
        [project_id, gold, user_id, user_id, project_id, gold, _param(now), user_id, user_id],
    )
    return int(row[0])


_SLOTS = f"""SELECT COALESCE(SUM(CASE WHEN status IN {HELD} THEN 1 ELSE 0 END), 0) AS held,
                     COALESCE(SUM(CASE WHEN status = {SUBMITTED}
                                         OR (status = {ACTIVE} AND expires_at > %(now)s)
                                       THEN 1 ELSE 0 END), 0) AS occupied
              FROM {ASSIGNMENTS} WHERE task_id = %(task)s AND id <> %(exclude)s"""


def count_slots(task_id: int, now: datetime, *, exclude_assignment: int | None = None):
    """(held, occupied): assignments counted in n_held, and those holding a slot at ``now``."""
    params = {"now": _param(now), "task": task_id, "exclude": exclude_assignment or 0}
    held, occupied = _one(_SLOTS, params)
    return int(held), int(occupied)


def take_slot(task_id, overlap, n_held, user_id, now: datetime, expires_at: datetime):
    """On a task locked by ``lock_open_task``: count its slots again (the candidate query's
    snapshot may predate a commit by the transaction that held the row a moment ago, and
    n_held is only a hint), and if one is free, lease it to the labeler. Keeps n_held right
    either way. The new assignment's id, or None when the task was full after all.
    """
    params = {
        "now": _param(now), "task": task_id, "exclude": 0, "user": user_id,
        "expires": _param(expires_at), "overlap": overlap,
    }  # fmt: skip
    if connection.vendor == "postgresql":
        # One statement: its snapshot is taken after the lock is held, so the count is fresh.
        row = _one(
            f"""WITH slots AS ({_SLOTS}),
                taken AS (
                    INSERT INTO {ASSIGNMENTS} (task_id, labeler_id, status, leased_at,
                        expires_at, finished_at, skip_reason, draft)
                    SELECT %(task)s, %(user)s, {ACTIVE}, %(now)s, %(expires)s, NULL, '', NULL
                    FROM slots WHERE occupied < %(overlap)s
                    RETURNING id),
                counted AS (
                    UPDATE {TASKS}
                    SET n_held = (SELECT held FROM slots) + (SELECT COUNT(*) FROM taken)
                    WHERE id = %(task)s)
                SELECT (SELECT id FROM taken)""",
            params,
        )
        return row[0]
    held, occupied = _one(_SLOTS, params)
    if occupied >= overlap:
        if n_held != held:
            _set_held(task_id, held)
        return None
    pk = _insert(
        f"""INSERT INTO {ASSIGNMENTS}
               (task_id, labeler_id, status, leased_at, expires_at, finished_at, skip_reason, draft)
           VALUES (%(task)s, %(user)s, {ACTIVE}, %(now)s, %(expires)s, NULL, '', NULL)""",
        params,
    )
    _set_held(task_id, held + 1)
    return pk


def _set_held(task_id: int, n_held: int):
    with sql_cursor() as cursor:
        cursor.execute(f"UPDATE {TASKS} SET n_held = %s WHERE id = %s", [n_held, task_id])


def add_held(task_id: int, delta: int):
    """Count assignments that came into (+) or left (-) the statuses of ``n_held``; with
    ``take_slot`` the only writers of ``RankingTask.n_held``."""
    with sql_cursor() as cursor:
        cursor.execute(
            f"UPDATE {TASKS} SET n_held = CASE WHEN n_held + %s > 0 THEN n_held + %s ELSE 0 END"
            " WHERE id = %s",
            [delta, delta, task_id],
        )


# --- submit --------------------------------------------------------------------------------

# What a submit or skip needs of the assignment, its task and project, read under the lock.
_ASSIGNMENT = ("id", "task_id", "labeler_id", "status", "leased_at", "expires_at", "finished_at")
_TASK = ("id", "project_id", "prompt_id", "k", "overlap", "source")
_PROJECT = ("id", "slug", "allow_ties", "likert_max", "flags", "min_seconds_per_task")


def _id_list(subquery: str) -> str:
    """SQL for the ids a one-column subquery returns, as one value (see ``_ids``)."""
    if connection.vendor == "postgresql":
        return f"ARRAY({subquery})"
    return f"(SELECT json_group_array(id) FROM ({subquery}))"


def _ids(value) -> list[int]:
    return json.loads(value) if isinstance(value, str) else list(value)


@dataclass(slots=True)
class LockedAssignment:
    """What a submit or skip reads with the assignment's lock held."""

    assignment: Assignment  # with ``task`` and ``task.project`` (other fields deferred)
    response_ids: list[int]  # the task's, in position order
    role: str | None  # the labeler's in the project
    own_ranking_id: int | None  # the ranking written under this assignment
    current: tuple[int, int] | None  # (id, version) of the labeler's current ranking
    key_ranking_id: int | None  # the labeler's ranking that used the submission key
    key_assignment_id: int | None  # and the assignment it was written under


def lock_assignment(
    user_id: int, *, assignment_id=None, task_id=None, submission_key=""
) -> LockedAssignment | None:
    """Lock one of the labeler's assignments (by id, or by task) and read in the same
    statement what a submit needs; None when the labeler holds no such assignment."""
    where, param = ("a.id", assignment_id) if assignment_id is not None else ("a.task_id", task_id)
    columns = [f"a.{c}" for c in _ASSIGNMENT] + [f"t.{c}" for c in _TASK]
    columns += [f"p.{c}" for c in _PROJECT]
    responses = _id_list(
        f"SELECT tr.response_id AS id FROM {TASK_RESPONSES} tr"
        " WHERE tr.task_id = a.task_id ORDER BY tr.position"
    )
    current = (
        "SELECT r.{} FROM " + RANKINGS + " r"
        " WHERE r.task_id = a.task_id AND r.labeler_id = a.labeler_id AND r.is_current"
    )
    by_key = (
        "SELECT r.{} FROM " + RANKINGS + " r WHERE r.labeler_id = a.labeler_id"
        " AND r.submission_key = %s AND r.submission_key <> ''"
    )
    row = _one(
        f"""SELECT {", ".join(columns)}, {responses},
                   (SELECT m.role FROM {MEMBERSHIPS} m
                     WHERE m.project_id = t.project_id AND m.user_id = a.labeler_id),
                   (SELECT r.id FROM {RANKINGS} r WHERE r.assignment_id = a.id),
                   ({current.format("id")}), ({current.format("version")}),
                   ({by_key.format("id")}), ({by_key.format("assignment_id")})
            FROM {ASSIGNMENTS} a
            JOIN {TASKS} t ON t.id = a.task_id
            JOIN {PROJECTS} p ON p.id = t.project_id
            WHERE {where} = %s AND a.labeler_id = %s{_lock("a")}""",
        [submission_key, submission_key, param, user_id],
    )
    if row is None:
        return None
    n_a, n_t, n_p = len(_ASSIGNMENT), len(_TASK), len(_PROJECT)
    assignment = instance(Assignment, _ASSIGNMENT, row[:n_a])
    task = assignment.task = instance(RankingTask, _TASK, row[n_a : n_a + n_t])
    task.project = instance(Project, _PROJECT, row[n_a + n_t : n_a + n_t + n_p])
    responses, role, own_id, current_id, version, key_id, key_assignment = row[n_a + n_t + n_p :]
    return LockedAssignment(
        assignment=assignment,
        response_ids=_ids(responses),
        role=role,
        own_ranking_id=own_id,
        current=(current_id, version) if current_id is not None else None,
        key_ranking_id=key_id,
        key_assignment_id=key_assignment,
    )


_TASK_BODY = ("id", "project_id", "k", "overlap", "source", "is_gold", "gold_ranks",
              "created_at")  # fmt: skip
_PROMPT_BODY = ("id", "text", "messages", "category")


def task_record(task_id: int) -> TaskRecord:
    """The task with its project's slug, its prompt and its responses in position order, in
    one statement: what `next` shows."""
    columns = [f"t.{c}" for c in _TASK_BODY] + ["pj.slug"] + [f"p.{c}" for c in _PROMPT_BODY]
    columns += ["tr.position", "r.id", "r.text"]
    with sql_cursor() as cursor:
        cursor.execute(
            f"""SELECT {", ".join(columns)} FROM {TASKS} t
                JOIN {PROJECTS} pj ON pj.id = t.project_id
                JOIN {PROMPTS} p ON p.id = t.prompt_id
                JOIN {TASK_RESPONSES} tr ON tr.task_id = t.id
                JOIN {RESPONSES} r ON r.id = tr.response_id
                WHERE t.id = %s ORDER BY tr.position""",
            [task_id],
        )
        rows = cursor.fetchall()
    n_t, n_p = len(_TASK_BODY), len(_PROMPT_BODY)
    first = rows[0]
    task_id, project_id, k, overlap, source, is_gold, gold_ranks, created_at = converted(
        RankingTask, _TASK_BODY, first[:n_t]
    )
    prompt = TaskPrompt(*converted(Prompt, _PROMPT_BODY, first[n_t + 1 : n_t + 1 + n_p]))
    return TaskRecord(
        id=task_id,
        project=first[n_t],
        project_id=project_id,
        prompt=prompt,
        k=k,
        overlap=overlap,
        source=source,
        is_gold=is_gold,
        gold_ranks=gold_ranks,
        responses=[TaskResponse(*row[n_t + 1 + n_p :]) for row in rows],
        created_at=created_at,
    )


def response_ids(task_id: int) -> list[int]:
    """The task's responses in canonical position order."""
    with sql_cursor() as cursor:
        cursor.execute(
            f"SELECT response_id FROM {TASK_RESPONSES} WHERE task_id = %s ORDER BY position",
            [task_id],
        )
        return [row[0] for row in cursor.fetchall()]


def lock_current_ranking(task_id: int, labeler_id: int) -> tuple[int, int] | None:
    """(id, version) of the labeler's current ranking of the task, locked; None if none."""
    return _one(
        f"SELECT id, version FROM {RANKINGS}"
        f" WHERE task_id = %s AND labeler_id = %s AND is_current{_lock(RANKINGS)}",
        [task_id, labeler_id],
    )


def retire_ranking(ranking_id: int):
    with sql_cursor() as cursor:
        cursor.execute(f"UPDATE {RANKINGS} SET is_current = %s WHERE id = %s", [False, ranking_id])


_SUBMITTED = (
    f"UPDATE {ASSIGNMENTS} SET status = {SUBMITTED}, finished_at = %s, draft = NULL WHERE id = %s"
)


def insert_ranking(
    fields: dict, items: list[tuple[int, int, int | None, list]], *, submits=None
) -> tuple[int, list[int]]:
    """Insert a ranking row from {column: value} and its items, rows of (response_id, rank,
    likert, flags); ``submits``: (assignment id, finished_at) of the assignment it submits.
    The ranking's id and its items' ids in the order given.

    One statement on PostgreSQL (the items as arrays, so every K shares one prepared
    statement); three on SQLite, which has no INSERT in WITH.
    """
    values = [_param(v) if isinstance(v, datetime) else v for v in fields.values()]
    columns = ", ".join(fields)
    placeholders = ", ".join(["%s"] * len(fields))
    if connection.vendor != "postgresql":
        pk = _insert(f"INSERT INTO {RANKINGS} ({columns}) VALUES ({placeholders})", values)
        item_ids = _insert_items(pk, items)
        if submits is not None:
            with sql_cursor() as cursor:
                cursor.execute(_SUBMITTED, [_param(submits[1]), submits[0]])
        return pk, item_ids
    response_ids, ranks, likerts, flags = (list(column) for column in zip(*items, strict=True))
    params = [*values, response_ids, ranks, likerts, [json.dumps(f) for f in flags]]
    finished = ""
    if submits is not None:
        finished = f", finished AS ({_SUBMITTED})"
        params += [_param(submits[1]), submits[0]]
    with sql_cursor() as cursor:
        cursor.execute(
            f"""WITH ranking AS (
                    INSERT INTO {RANKINGS} ({columns}) VALUES ({placeholders})
                    RETURNING id),
                items AS (
                    INSERT INTO {ITEMS} (ranking_id, response_id, rank, likert, flags)
                    SELECT ranking.id, v.response_id, v.rank, v.likert, v.flags
                    FROM ranking, unnest(%s::bigint[], %s::int[], %s::int[], %s::jsonb[])
                         AS v(response_id, rank, likert, flags)
                    RETURNING id, response_id){finished}
                SELECT (SELECT id FROM ranking), items.id, items.response_id FROM items""",
            params,
        )
        rows = cursor.fetchall()
    by_response = {response_id: item_id for _, item_id, response_id in rows}
    return rows[0][0], [by_response[item[0]] for item in items]


def _insert_items(ranking_id: int, rows: list[tuple[int, int, int | None, list]]) -> list[int]:
    """One statement for all items of a ranking; their ids in the same order."""
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params = []
    for response_id, rank, likert, flags in rows:
        params += [ranking_id, response_id, rank, likert, json.dumps(flags)]
    sql = f"INSERT INTO {ITEMS} (ranking_id, response_id, rank, likert, flags) VALUES {values}"
    with sql_cursor() as cursor:
        if connection.features.can_return_rows_from_bulk_insert:
            cursor.execute(sql + " RETURNING id", params)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(sql, params)
        last = cursor.lastrowid  # SQLite before RETURNING: consecutive rowids
        return list(range(last - len(rows) + 1, last + 1))
