"""PostgreSQL restarted under a running server: requests fail cleanly with 503 while it is
down (not 500, not a hang), and succeed again once it is back, on the same persistent
connections' workers.

A private PostgreSQL cluster (initdb into a temporary folder, on a free port; run as the
``postgres`` user when the tests run as root) and a real gunicorn serving the platform on it,
with persistent connections as in production. The shared PostgreSQL is never touched.
"""

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
            pytest.fail(f"make test needs PostgreSQL's {name} for a private cluster")
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return found


class PrivateCluster:
    """initdb'd into a temporary folder; stopped (fast shutdown) and started at will."""

    def __init__(self):
        # postgres refuses to run as root: the cluster then belongs to the postgres user
        self.user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="preflab-pg-"))
        if self.user:
            shutil.chown(self.folder, self.user)
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/preflab"
        subprocess.run(
            [postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, user=self.user,
        )  # fmt: skip
        self.process = None
        self.start()
        self.psql("CREATE DATABASE preflab", dbname="postgres")

    def start(self):
        self.process = subprocess.Popen(
            [postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=self.user,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the private PostgreSQL did not start")
            time.sleep(0.1)

    def ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                            connect_timeout=2).close()  # fmt: skip
            return True
        except psycopg.OperationalError:
            return False

    def psql(self, sql: str, dbname: str = "preflab"):
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname,
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(sql)

    def stop(self):
        self.process.send_signal(signal.SIGINT)  # fast shutdown: sessions are cut, as a restart
        self.process.wait(timeout=30)

    def remove(self):
        if self.process.poll() is None:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def cluster():
    cluster = PrivateCluster()
    yield cluster
    cluster.remove()


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def server(cluster, tmp_path):
    """gunicorn on the private cluster, with an admin who has an API token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_BROKER"))}
    env.update(
        DATABASE_URL=cluster.url,
        DATABASE_CONN_MAX_AGE="600",  # persistent connections: they must survive the restart
        DEBUG="0",
        SECRET_KEY="test-" + uuid.uuid4().hex,
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        PREFLAB_VAR_DIR=str(tmp_path / "var"),
        LOG_LEVEL="WARNING",
    )
    manage(env, "migrate", "--no-input", "-v0")
    manage(env | {"DJANGO_SUPERUSER_PASSWORD": "pw-ada-outage"}, "createsuperuser",
           "--no-input", "--username", "ada", "--email", "a@example.com")  # fmt: skip
    token = manage(env, "api_token", "ada").strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "preflab.wsgi:application",
         "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "30"],
        cwd=ROOT, env=env, start_new_session=True, stderr=(tmp_path / "server.log").open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/api/v1/health/", timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("gunicorn did not come up") from None
            time.sleep(0.2)
    yield SimpleServer(base, token, process, tmp_path / "server.log")
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


class SimpleServer:
    def __init__(self, base, token, process, log):
        self.base, self.process, self.log = base, process, log
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Token {token}"
        self.browser = requests.Session()

    def log_in(self):
        page = self.browser.get(f"{self.base}/accounts/login/", timeout=10)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        done = self.browser.post(
            f"{self.base}/accounts/login/",
            data={"username": "ada", "password": "pw-ada-outage", "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{self.base}/accounts/login/"},
            timeout=10,
            allow_redirects=False,
        )
        assert done.status_code == 302, done.text[:500]

    def calls(self):
        """An API read (token auth: a query), the health check, and a page (session: a query)."""
        return [
            self.api.get(f"{self.base}/api/v1/projects/", timeout=15),
            self.api.get(f"{self.base}/api/v1/health/", timeout=15),
            self.browser.get(f"{self.base}/dashboard/", timeout=15, allow_redirects=False),
        ]


def test_a_database_restart_is_503_then_recovers(cluster, server):
    server.log_in()
    for _ in range(4):  # every gunicorn worker holds a persistent connection
        assert [r.status_code for r in server.calls()] == [200, 200, 200]

    cluster.stop()
    started = time.monotonic()
    for _ in range(4):
        api, health, page = server.calls()
        for response in (api, health, page):
            assert response.status_code == 503, response.text[:500]
            assert int(response.headers["Retry-After"]) > 0
        assert "database is unreachable" in api.json()["detail"]
        assert health.json()["detail"] == api.json()["detail"]
        assert page.headers["Content-Type"].startswith("text/html")
        assert "database is unreachable" in page.text
    assert time.monotonic() - started < 30  # answered at once, not after timeouts

    cluster.start()
    for _ in range(4):
        assert [r.status_code for r in server.calls()] == [200, 200, 200]
    assert server.process.poll() is None
    # one line per gunicorn worker for the outage (and one when it is back), no tracebacks
    log = server.log.read_text()
    assert 1 <= log.count("database unavailable, answering 503") <= 2, log
    assert "Traceback" not in log, log
