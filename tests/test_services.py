"""The suite runs against real PostgreSQL and Redis (``make test`` sets them up).

``PREFLAB_REQUIRE_SERVICES=1`` turns a missing service into a failure instead of a skip;
CI checks that both tests passed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REQUIRED = os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent


def test_database_is_postgresql(db):
    if connection.vendor != "postgresql":
        if REQUIRED:
            pytest.fail(f"expected PostgreSQL, the suite runs on {connection.vendor}")
        pytest.skip("DATABASE_URL is not PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_celery_round_trip_through_redis():
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        if REQUIRED:
            pytest.fail(f"expected a Redis broker, got {broker}")
        pytest.skip("CELERY_BROKER_URL is not Redis")
    from celery import Celery

    client = Celery("preflab-test", broker=broker, backend=broker)
    client.control.purge()
    env = dict(os.environ, CELERY_RESULT_BACKEND=broker)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "preflab", "worker", "--pool", "solo",
         "--queues", "default", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        result = client.send_task("preflab.ping", queue="default")
        assert result.get(timeout=60) == "pong"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
