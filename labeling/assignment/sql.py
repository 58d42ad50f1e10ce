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
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection

from labeling.models import Project, RankingTask
from preflab.sql_rows import cursor as sql_cursor
from preflab.sql_rows import instance

SERVED = "('labeling', 'evaluation')"  # RankingTask sources served to labelers
HELD = "('active', 'submitted')"  # statuses counted in RankingTask.n_held


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
    row = _one(f"SELECT {', '.join(columns)} FROM labeling_project WHERE slug = %s", [slug])
    return instance(Project, columns, row) if row else None


def lock_labeler(project_id: int, user_id: int) -> str | None:
    """Lock the labeler's user row, so that one labeler's concurrent `next`s (two tabs, a
    retried request) queue here and never get two tasks; their role in the project."""
    users = get_user_model()._meta.db_table
    row = _one(
        f"""SELECT (SELECT m.role FROM labeling_membership m
                     WHERE m.project_id = %s AND m.user_id = u.id)
            FROM {users} u WHERE u.id = %s{_lock("u")}""",
        [project_id, user_id],
    )
    return row[0] if row else None


def open_assignment(project_id: int, user_id: int, now: datetime) -> int | None:
    """The labeler's unexpired active assignment in the project. A statement of its own
    after ``lock_labeler``: its snapshot must include what the tab that held the lock just
    committed (under READ COMMITTED each statement sees what was committed before it began,
    and a statement that waited for a lock began before that commit)."""
    row = _one(
        """SELECT a.id FROM labeling_assignment a
           JOIN labeling_rankingtask t ON t.id = a.task_id
           WHERE t.project_id = %s AND a.labeler_id = %s AND a.status = 'active'
             AND a.expires_at > %s
           ORDER BY a.leased_at LIMIT 1""",
        [project_id, user_id, _param(now)],
    )
    return row[0] if row else None


def lock_open_task(
    project_id: int, user_id: int, now: datetime, *, gold: bool, lapsed: bool, rejected: list
) -> tuple[int, int, int] | None:
    """(id, overlap, n_held) of the fullest served task with a free slot by its count that the
    labeler never held or ranked, locked (others' candidates skipped); None when there is none.

    ``lapsed``: instead, tasks counted full only because a lease ran out and no sweep has
    marked it expired yet.
    """
    if lapsed:
        is_open = (
            "t.id IN (SELECT a.task_id FROM labeling_assignment a"
            " WHERE a.status = 'active' AND a.expires_at <= %s)"
        )
        params = [_param(now)]
    else:
        is_open = "t.n_held < t.overlap"  # the partial index task_open_fullest
        params = []
    # OFFSET 0 keeps each NOT EXISTS a probe of one index entry per candidate: unfenced, the
    # generic plan of the prepared statement reads all of the labeler's assignments and
    # rankings on every call, which grows with their history.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    not_rejected = ""
    if rejected:
        not_rejected = f" AND t.id NOT IN ({', '.join(['%s'] * len(rejected))})"
    return _one(
        f"""SELECT t.id, t.overlap, t.n_held FROM labeling_rankingtask t
            WHERE t.project_id = %s AND t.is_gold = %s AND t.source IN {SERVED} AND {is_open}
              AND NOT EXISTS (SELECT 1 FROM labeling_assignment a
                               WHERE a.task_id = t.id AND a.labeler_id = %s{fence})
              AND NOT EXISTS (SELECT 1 FROM labeling_ranking r
                               WHERE r.task_id = t.id AND r.labeler_id = %s{fence}){not_rejected}
            ORDER BY t.n_held DESC, t.id LIMIT 1{_lock("t", skip_locked=True)}""",
        [project_id, gold, *params, user_id, user_id, *rejected],
    )


_SLOTS = f"""SELECT COALESCE(SUM(CASE WHEN status IN {HELD} THEN 1 ELSE 0 END), 0) AS held,
                     COALESCE(SUM(CASE WHEN status = 'submitted'
                                         OR (status = 'active' AND expires_at > %(now)s)
                                       THEN 1 ELSE 0 END), 0) AS occupied
              FROM labeling_assignment WHERE task_id = %(task)s AND id <> %(exclude)s"""


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
                    INSERT INTO labeling_assignment (task_id, labeler_id, status, leased_at,
                        expires_at, finished_at, skip_reason, draft)
                    SELECT %(task)s, %(user)s, 'active', %(now)s, %(expires)s, NULL, '', NULL
                    FROM slots WHERE occupied < %(overlap)s
                    RETURNING id),
                counted AS (
                    UPDATE labeling_rankingtask
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
        """INSERT INTO labeling_assignment
               (task_id, labeler_id, status, leased_at, expires_at, finished_at, skip_reason, draft)
           VALUES (%(task)s, %(user)s, 'active', %(now)s, %(expires)s, NULL, '', NULL)""",
        params,
    )
    _set_held(task_id, held + 1)
    return pk


def _set_held(task_id: int, n_held: int):
    with sql_cursor() as cursor:
        cursor.execute(
            "UPDATE labeling_rankingtask SET n_held = %s WHERE id = %s", [n_held, task_id]
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


def lock_assignment(user_id: int, *, assignment_id=None, task_id=None, submission_key=""):
    """Lock one of the labeler's assignments (by id, or by task) and read in the same
    statement what a submit needs: its task and project (their other fields deferred) with
    the task's response ids in position order (``task.response_ids``), the labeler's role,
    the ranking written under it, the labeler's current ranking of the task, and the ranking
    of theirs that used ``submission_key``.

    Returns (assignment, role, own_ranking_id, current, (key_ranking_id, key_assignment_id))
    with current = (id, version) or None; None when the labeler holds no such assignment.
    """
    from labeling.models import Assignment

    where, param = ("a.id", assignment_id) if assignment_id is not None else ("a.task_id", task_id)
    columns = [f"a.{c}" for c in _ASSIGNMENT] + [f"t.{c}" for c in _TASK]
    columns += [f"p.{c}" for c in _PROJECT]
    responses = _id_list(
        "SELECT tr.response_id AS id FROM labeling_taskresponse tr"
        " WHERE tr.task_id = a.task_id ORDER BY tr.position"
    )
    current = (
        "SELECT r.{} FROM labeling_ranking r"
        " WHERE r.task_id = a.task_id AND r.labeler_id = a.labeler_id AND r.is_current"
    )
    by_key = (
        "SELECT r.{} FROM labeling_ranking r WHERE r.labeler_id = a.labeler_id"
        " AND r.submission_key = %s AND r.submission_key <> ''"
    )
    row = _one(
        f"""SELECT {", ".join(columns)}, {responses},
                   (SELECT m.role FROM labeling_membership m
                     WHERE m.project_id = t.project_id AND m.user_id = a.labeler_id),
                   (SELECT r.id FROM labeling_ranking r WHERE r.assignment_id = a.id),
                   ({current.format("id")}), ({current.format("version")}),
                   ({by_key.format("id")}), ({by_key.format("assignment_id")})
            FROM labeling_assignment a
            JOIN labeling_rankingtask t ON t.id = a.task_id
            JOIN labeling_project p ON p.id = t.project_id
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
    task.response_ids = _ids(responses)
    current = (current_id, version) if current_id is not None else None
    return assignment, role, own_id, current, (key_id, key_assignment)


_TASK_BODY = ("id", "project_id", "prompt_id", "k", "overlap", "source", "is_gold", "gold_ranks",
              "created_at")  # fmt: skip
_PROMPT_BODY = ("id", "text", "messages", "category")


def task_with_responses(task_id: int):
    """The task with its prompt and its responses in position order (``task_responses``
    prefetched, each with its ``response``), in one statement: what `next` shows."""
    from labeling.models import Prompt, Response, TaskResponse

    columns = [f"t.{c}" for c in _TASK_BODY] + [f"p.{c}" for c in _PROMPT_BODY]
    columns += ["tr.id", "tr.position", "r.id", "r.text"]
    with sql_cursor() as cursor:
        cursor.execute(
            f"""SELECT {", ".join(columns)} FROM labeling_rankingtask t
                JOIN labeling_prompt p ON p.id = t.prompt_id
                JOIN labeling_taskresponse tr ON tr.task_id = t.id
                JOIN labeling_response r ON r.id = tr.response_id
                WHERE t.id = %s ORDER BY tr.position""",
            [task_id],
        )
        rows = cursor.fetchall()
    n_t, n_p = len(_TASK_BODY), len(_PROMPT_BODY)
    task = instance(RankingTask, _TASK_BODY, rows[0][:n_t])
    task.prompt = instance(Prompt, _PROMPT_BODY, rows[0][n_t : n_t + n_p])
    task_responses = []
    for row in rows:
        tr_id, position, response_id, text = row[n_t + n_p :]
        item = instance(TaskResponse, ("id", "task_id", "response_id", "position"),
                        (tr_id, task_id, response_id, position))  # fmt: skip
        item.response = instance(Response, ("id", "text"), (response_id, text))
        task_responses.append(item)
    queryset = task.task_responses.all()
    queryset._result_cache, queryset._prefetch_done = task_responses, True
    task._prefetched_objects_cache = {"task_responses": queryset}
    return task


def response_ids(task_id: int) -> list[int]:
    """The task's responses in canonical position order."""
    with sql_cursor() as cursor:
        cursor.execute(
            "SELECT response_id FROM labeling_taskresponse WHERE task_id = %s ORDER BY position",
            [task_id],
        )
        return [row[0] for row in cursor.fetchall()]


def lock_current_ranking(task_id: int, labeler_id: int) -> tuple[int, int] | None:
    """(id, version) of the labeler's current ranking of the task, locked; None if none."""
    return _one(
        "SELECT id, version FROM labeling_ranking"
        f" WHERE task_id = %s AND labeler_id = %s AND is_current{_lock('labeling_ranking')}",
        [task_id, labeler_id],
    )


def retire_ranking(ranking_id: int):
    with sql_cursor() as cursor:
        cursor.execute(
            "UPDATE labeling_ranking SET is_current = %s WHERE id = %s", [False, ranking_id]
        )


_SUBMITTED = (
    "UPDATE labeling_assignment SET status = 'submitted', finished_at = %s, draft = NULL"
    " WHERE id = %s"
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
        pk = _insert(f"INSERT INTO labeling_ranking ({columns}) VALUES ({placeholders})", values)
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
                    INSERT INTO labeling_ranking ({columns}) VALUES ({placeholders})
                    RETURNING id),
                items AS (
                    INSERT INTO labeling_rankingitem (ranking_id, response_id, rank, likert, flags)
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
    sql = (
        "INSERT INTO labeling_rankingitem (ranking_id, response_id, rank, likert, flags)"
        f" VALUES {values}"
    )
    with sql_cursor() as cursor:
        if connection.features.can_return_rows_from_bulk_insert:
            cursor.execute(sql + " RETURNING id", params)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(sql, params)
        last = cursor.lastrowid  # SQLite before RETURNING: consecutive rowids
        return list(range(last - len(rows) + 1, last + 1))
