"""`manage.py runplatform` on the embedded default: SQLite + filesystem broker, one command."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> str:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
    return found.stdout.strip()


def worker_pids(pgid: int, command: str) -> list[int]:
    listed = subprocess.run(["pgrep", "-a", "-g", str(pgid)], capture_output=True, text=True)
    return [int(line.split()[0]) for line in listed.stdout.splitlines() if command in line]


def start_platform(tmp_path, *args, env_extra=None):
    """runplatform on a migrated embedded default in tmp_path: (process, port, env)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PREFLAB_VAR_DIR=str(tmp_path), **(env_extra or {}))
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    platform = subprocess.Popen(
        [*manage, "runplatform", *args, "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    return platform, port, env


def wait_for(url: str, seconds: float = 60):
    """The first answer of ``url`` once the server is up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url) as reply:
                return reply.status, reply.read()
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer in {seconds:.0f} s"
            time.sleep(0.5)


def stop_and_check(platform):
    """SIGTERM to runplatform alone: it must stop every process it started."""
    platform.terminate()
    platform.wait(timeout=30)
    deadline = time.monotonic() + 15  # pool processes exit just after their parent
    while (left := group_members(platform.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        os.killpg(platform.pid, signal.SIGKILL)
    assert not left, f"runplatform left processes running: {left}"


def test_web_and_worker_run_on_the_embedded_default(tmp_path):
    (tmp_path / "results").mkdir()
    results = {"CELERY_RESULT_BACKEND": f"file://{tmp_path}/results"}
    platform, port, env = start_platform(tmp_path, env_extra=results)
    try:
        _, body = wait_for(f"http://127.0.0.1:{port}/api/v1/health/")
        assert json.loads(body) == {"status": "ok", "database": "sqlite"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/") as reply:
            assert b"Log in" in reply.read()
        # served by gunicorn (a master and 2 workers), static files by whitenoise
        assert len(worker_pids(platform.pid, "gunicorn preflab.wsgi:application")) == 3
        assert not worker_pids(platform.pid, "runserver")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/preflab.css") as reply:
            assert reply.status == 200 and b"{" in reply.read()
        # The worker started beside the web server takes a task from the filesystem broker.
        code = (
            "from preflab.celery import app; print(app.send_task('preflab.ping').get(timeout=90))"
        )
        ping = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert ping.stdout.strip() == "pong", ping.stderr
        # Housekeeping (with beat) and jobs run in two workers, each started again when it
        # dies: a SIGKILL of the job worker brings a new one up.
        training = worker_pids(platform.pid, "--hostname training@%h --queues training")
        assert len(training) == 1
        assert worker_pids(platform.pid, "--hostname default@%h --queues default --beat")
        os.kill(training[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while worker_pids(platform.pid, "--hostname training@%h") in ([], training):
            assert time.monotonic() < deadline, "the killed job worker was not started again"
            time.sleep(0.5)
        assert (tmp_path / "preflab.sqlite3").exists()
    finally:
        stop_and_check(platform)


def test_dev_server_and_its_reloaded_child_stop_on_sigterm(tmp_path):
    """--dev serves with runserver, whose autoreloader runs the server in a second process:
    a SIGTERM to runplatform stops both (the child would otherwise outlive its parent)."""
    platform, port, _ = start_platform(tmp_path, "--dev", "--no-worker")
    try:
        status, _ = wait_for(f"http://127.0.0.1:{port}/static/preflab.css")
        assert status == 200
        assert len(worker_pids(platform.pid, "runserver")) == 2  # the reloader and its server
        assert not worker_pids(platform.pid, "gunicorn")
    finally:
        stop_and_check(platform)
