"""The labeling hot path's statements are prepared on PostgreSQL, and only they are.

Django turns psycopg's prepared statements off for every connection; ``sql_rows.cursor()``
asks for them. Without this check the claim can silently stop being true: it did, and every
statement of the round was planned on every request.
"""

import pytest
from django.db import connection

from labeling.assignment import engine
from labeling.assignment.rankings import ItemInput
from labeling.models import Project
from preflab import sql_rows

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
    ),
    pytest.mark.django_db(transaction=True),  # each test starts on a fresh connection
]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_hot_path_statements_are_prepared_and_orm_ones_are_not(project, make_task, labeler):
    connection.close()  # a fresh connection: nothing prepared yet
    for _ in range(2):
        make_task()
    for _ in range(2):
        held = engine.next_assignment(project, labeler)
        engine.submit_ranking(held, labeler, [ItemInput(rank=r, likert=3) for r in (1, 2, 3, 4)])
    Project.objects.filter(pk=project.pk).first()
    Project.objects.filter(pk=project.pk).first()
    statements = prepared_statements()
    assert any("FROM labeling_rankingtask t" in s and "SKIP LOCKED" in s for s in statements)
    assert any("INSERT INTO labeling_rankingitem" in s for s in statements)
    assert not any('"labeling_project"' in s for s in statements)  # the ORM's quoting


def test_without_the_setting_nothing_is_prepared(monkeypatch):
    # what settings leave out of OPTIONS when DATABASE_PREPARED_STATEMENTS=0: Django's default
    assert "prepare_threshold" in connection.settings_dict["OPTIONS"]
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "prepare_threshold")
    connection.close()
    try:
        for _ in range(3):
            with sql_rows.cursor() as cursor:
                cursor.execute("SELECT %s::int + 41", [1])
                assert cursor.fetchone() == (42,)
        assert not any("+ 41" in s for s in prepared_statements())
    finally:
        connection.close()  # later tests reconnect with the setting back
