"""Model instances from rows read with a plain cursor, for the few hot paths that skip the ORM.

The instance is what the ORM would have built from the same columns: each value goes through
the converters the ORM applies (JSON text to objects, SQLite's naive datetimes to aware ones,
SQLite's integers to booleans), and the columns not read are deferred, so touching one loads
it instead of giving a wrong default.
"""

from functools import lru_cache

from django.db import connection


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


def instance(model, names: tuple[str, ...], values):
    """A model instance from a raw row of the columns ``names`` (attnames), the others
    deferred (loaded on access), as the ORM would have built it."""
    converted = []
    for value, (col, converters) in zip(values, _converters(model, names, connection.vendor), strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)
