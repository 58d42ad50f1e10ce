"""Plain statements for the few hot paths that skip the ORM (labeling `next` + submit, tokens).

``cursor()`` runs them as prepared statements on PostgreSQL: each is parsed once per
connection, and after a few runs PostgreSQL keeps a generic plan instead of planning it on
every request (planning cost the database more than running the statements: 1.7 ms against
0.9 ms per labeling round). ``converted()`` reads a row's values as the ORM would, and
``instance()`` builds a model instance from them.

The instance is what the ORM would have built from the same columns: each value goes through
the converters the ORM applies (JSON text to objects, SQLite's naive datetimes to aware ones,
SQLite's integers to booleans), and the columns not read are deferred, so touching one loads
it instead of giving a wrong default.
"""

from contextlib import contextmanager
from functools import lru_cache

from django.db import connection


class _Prepared:
    """A psycopg cursor whose statements are prepared on the server (``prepare=True``)."""

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql, params=()):
        self._cursor.execute(sql, params, prepare=True)

    def __getattr__(self, name):  # fetchone, fetchall, rowcount
        return getattr(self._cursor, name)


@contextmanager
def cursor():
    """A cursor for hand-written SQL with ``%s`` placeholders, on the current connection and
    transaction; database errors are Django's (``IntegrityError``...) as with the ORM.

    On PostgreSQL it binds parameters on the server and prepares each statement (Django's
    own cursors bind on the client, so nothing can be prepared; preparation is switched on
    for the connection in settings, ``DATABASE_PREPARED_STATEMENTS``); SQLite caches
    statements itself. Statements run this way bypass Django's query log.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as plain:
            yield plain
        return
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as raw:
        yield _Prepared(raw)


@lru_cache
def _converters(model, names: tuple[str, ...], vendor: str) -> list[tuple]:
    """Per column, what the ORM applies to the value it reads (JSON, datetimes, bools)."""
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    result = []
    for name in names:
        col = by_attname[name].cached_col
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        result.append((col, converters))
    return result


def converted(model, names: tuple[str, ...], values) -> list:
    """A raw row of the columns ``names`` (attnames) as the ORM reads them: each value through
    the converters the ORM applies (JSON text to objects, SQLite's naive datetimes to aware
    ones, SQLite's integers to booleans)."""
    result = []
    for value, (col, converters) in zip(
        values, _converters(model, names, connection.vendor), strict=True
    ):
        for converter in converters:
            value = converter(value, col, connection)
        result.append(value)
    return result


def instance(model, names: tuple[str, ...], values):
    """A model instance from a raw row of the columns ``names`` (attnames), the others
    deferred (loaded on access), as the ORM would have built it."""
    return model.from_db(connection.alias, names, converted(model, names, values))
