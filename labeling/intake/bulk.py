"""Writing many rows in few statements.

``bulk_batch_size``: Django caps SQLite's ``bulk_create`` at 999 variables per statement
(the limit of SQLite before 3.32); the library in use reports its real limit (32,766 since
3.32), and statements 30 times larger are what make bulk imports fast there.

``insert_rows``: rows whose ids nobody needs back (a million imported responses) skip the
ORM's per-object work: PostgreSQL takes them with ``COPY``, SQLite with one prepared
``executemany`` per batch. Only plain values travel per row; a column that is the same for
every row is prepared once by its model field, as ``save()`` would prepare it.
"""

import sqlite3

from django.db import connection

# Rows of one INSERT on PostgreSQL: large enough that per-statement costs vanish, small
# enough that one statement's parameters stay a few megabytes.
POSTGRES_BATCH_ROWS = 2000


def bulk_batch_size(model) -> int:
    """Rows per INSERT of ``model`` that fit the database's limit on parameters."""
    if connection.vendor != "sqlite":
        return POSTGRES_BATCH_ROWS
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    columns = len([f for f in model._meta.concrete_fields if not f.primary_key])
    return max(1, limit // columns)


def insert_rows(model, names: list[str], rows, constants: dict) -> None:
    """INSERT ``rows`` (tuples of plain values of the fields ``names``) into ``model``'s
    table, with ``constants`` ({field name: Python value}) in every row. No ids come back."""
    fields = [model._meta.get_field(name) for name in [*names, *constants]]
    fixed = tuple(
        model._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in constants.items()
    )
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + fixed)
            return
        marks = ", ".join(["%s"] * len(fields))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", [row + fixed for row in rows]
        )
