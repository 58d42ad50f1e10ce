"""Labeling throughput and latency of the REST API under gunicorn + PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflab_bench_labeling \\
        .venv/bin/python bench/labeling.py [--workers N] [--labelers 50] [--rate 50] [--seconds 20]

One round = what a labeler does per task: ``POST /api/v1/tasks/next/`` then
``POST /api/v1/tasks/<id>/submit/`` with a ranking of 6 (ranks, Likert, idempotency key).
This process is the client (aiohttp, loopback); gunicorn (sync workers, persistent DB
connections, DEBUG off) serves a fresh project of K = 6 tasks, overlap 1, no gold.

- closed loop: ``--labelers`` labelers each run rounds back to back for ``--seconds``
  (after a 3 s warm-up): rounds/s at saturation;
- open loop: rounds arrive as a Poisson process at ``--rate`` per second for
  ``--seconds``, each by the next of ``--pool`` labelers (1,500 labelers at one task per
  30 s ≈ 50 rounds/s); latency is measured from the scheduled arrival, so queueing delay
  counts (no coordinated omission). p50 / p95 / p99.

Both phases are bounded in time and in concurrency (``--max-inflight``). The peer figure
(Label Studio 1.23 on this machine: ~8 rounds/s, p95 ~7 s at 50 labelers) comes from the
issue; it is not re-measured here. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/preflab_bench_labeling")

K = 6
WARMUP_S = 3.0


def setup():
    import django

    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    settings = connection.settings_dict
    admin = f"host={settings['HOST'] or '127.0.0.1'} user={settings['USER']} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        name = settings["NAME"]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def ensure_labelers(n: int) -> list[str]:
    """n labeler accounts with API tokens (created once, bulk: no password hashing)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    names = [f"bench-l{i:05d}" for i in range(n)]
    existing = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    user_model.objects.bulk_create(
        [user_model(username=name, password="!") for name in names if name not in existing]
    )
    users = list(user_model.objects.filter(username__in=names).order_by("username"))
    have = set(Token.objects.filter(user__in=users).values_list("user_id", flat=True))
    Token.objects.bulk_create(
        [Token(user=u, key=Token.generate_key()) for u in users if u.pk not in have]
    )
    tokens = dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))
    return users, [tokens[u.pk] for u in users]


def make_project(n_tasks: int, users) -> str:
    """A fresh project with n_tasks unranked K=6 tasks, every bench labeler a member."""
    from django.db import connection, transaction

    from labeling.models import Membership, Project

    slug = f"bench-labeling-{int(time.time())}"
    project = Project.objects.create(
        slug=slug, name=slug, k_min=K, k_max=K, overlap=1, gold_rate=0, lease_minutes=30
    )
    Membership.objects.bulk_create(
        [Membership(project=project, user=u, role="labeler") for u in users]
    )
    params = {"p": project.pk, "n": n_tasks, "k": K}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO labeling_prompt (project_id, external_id, text, source_user,
                   category, split, dedup_key, metadata, created_at)
               SELECT %(p)s, 'b' || i, 'Prompt ' || i || ': '
                      || repeat('explain the trade-offs of caching ', 6),
                      'user' || (i %% 997), 'open_qa', 'train', md5(i::text), '{}', now()
               FROM generate_series(1, %(n)s) AS i""",
            params,
        )
        cursor.execute(
            """INSERT INTO labeling_response (prompt_id, text, text_hash, origin, model_name,
                   metadata, created_at)
               SELECT p.id, 'Response ' || j || ' to ' || p.external_id || '. '
                      || repeat('Lorem ipsum dolor sit amet, consectetur. ', 11),
                      md5(p.id || '-' || j), 'model', 'bench', '{}', now()
               FROM labeling_prompt p CROSS JOIN generate_series(0, %(k)s - 1) AS j
               WHERE p.project_id = %(p)s""",
            params,
        )
        cursor.execute(
            """INSERT INTO labeling_rankingtask (project_id, prompt_id, k, overlap, source,
                   is_gold, created_at)
               SELECT %(p)s, p.id, %(k)s, 1, 'labeling', false, now()
               FROM labeling_prompt p WHERE p.project_id = %(p)s""",
            params,
        )
        cursor.execute(
            """INSERT INTO labeling_taskresponse (task_id, response_id, position)
               SELECT t.id, r.id, row_number() OVER (PARTITION BY t.id ORDER BY r.id) - 1
               FROM labeling_rankingtask t
               JOIN labeling_response r ON r.prompt_id = t.prompt_id
               WHERE t.project_id = %(p)s""",
            params,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return slug


def start_gunicorn(
    workers: int, port: int, config: str | None = None, threads: int = 0
) -> subprocess.Popen:
    env = dict(
        os.environ,
        DEBUG="0",
        SECRET_KEY="bench-only-" + uuid.uuid4().hex,
        DATABASE_CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
    )
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "preflab.wsgi:application",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--backlog", "2048",
        "--log-level", "warning",
        *(["--config", config] if config else []),
        # gthread keeps connections alive between a labeler's requests; sync closes each
        *(["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30"]
          if threads else []),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    import urllib.request

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise SystemExit("gunicorn did not come up within 60 s")


def stop(server: subprocess.Popen):
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)


class Client:
    def __init__(self, session, base: str, project: str):
        self.session, self.base, self.project = session, base, project
        self.errors: dict[str, int] = {}
        self.empty = 0

    def _error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1

    async def round(self, token: str) -> bool:
        """next + submit; True when a ranking was recorded."""
        import aiohttp

        try:
            return await self._round(token)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._error(type(exc).__name__)
            return False

    async def _round(self, token: str) -> bool:
        headers = {"Authorization": f"Token {token}"}
        async with self.session.post(
            f"{self.base}/api/v1/tasks/next/", json={"project": self.project}, headers=headers
        ) as response:
            if response.status == 204:
                self.empty += 1
                return False
            if response.status != 200:
                self._error(f"next {response.status}")
                return False
            body = await response.json()
        task = body["task"]
        ranks = list(range(1, task["k"] + 1))
        random.shuffle(ranks)
        submit = {
            "items": [{"rank": r, "likert": 4, "flags": []} for r in ranks],
            "submission_key": uuid.uuid4().hex,
            "seconds_spent": 30,
        }
        async with self.session.post(
            f"{self.base}/api/v1/tasks/{task['id']}/submit/", json=submit, headers=headers
        ) as response:
            await response.read()
            if response.status != 201:
                self._error(f"submit {response.status}")
                return False
        return True


async def closed_loop(client: Client, tokens: list[str], seconds: float) -> dict:
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + seconds
    done, latencies = [], []

    cpu = {}

    async def meter():
        await asyncio.sleep(WARMUP_S)
        cpu["start"] = cpu_seconds()
        await asyncio.sleep(seconds)
        cpu["end"] = cpu_seconds()

    async def labeler(token):
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            ok = await client.round(token)
            t1 = time.perf_counter()
            # completions inside the window count (throughput); a round that started
            # before it still finished in it, and rounds last seconds under overload
            if ok and measure_from <= t1 <= stop_at:
                done.append(t1)
                latencies.append(t1 - t0)
            if not ok:
                await asyncio.sleep(0.05)

    await asyncio.gather(meter(), *(labeler(t) for t in tokens))
    return {
        "rounds": len(done),
        "rate": len(done) / seconds,
        "latencies": latencies,
        "cpu": cpu_per_round(cpu["start"], cpu["end"], len(done)),
    }


async def open_loop(
    client: Client, tokens: list[str], rate: float, seconds: float, max_inflight: int
) -> dict:
    rng = random.Random(7)
    latencies, dropped = [], 0
    inflight: set[asyncio.Task] = set()
    busy: set[str] = set()
    pool = list(tokens)
    cursor = 0

    async def one(token, scheduled):
        try:
            if await client.round(token):
                latencies.append(time.perf_counter() - scheduled)
        finally:
            busy.discard(token)

    start = time.perf_counter()
    at = start
    while True:
        at += rng.expovariate(rate)
        if at > start + seconds:
            break
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(inflight) >= max_inflight:
            dropped += 1
            continue
        for _ in range(len(pool)):  # the next labeler who is not mid-task
            token = pool[cursor % len(pool)]
            cursor += 1
            if token not in busy:
                break
        busy.add(token)
        task = asyncio.create_task(one(token, at))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(inflight, timeout=30)
    return {"latencies": latencies, "dropped": dropped, "rate": len(latencies) / seconds}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of gunicorn, PostgreSQL and this client, read from /proc (Linux);
    the differences over a phase give the CPU cost of a round on each side."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"gunicorn": 0.0, "postgres": 0.0, "client": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(entry) == os.getpid():
            totals["client"] += seconds
        elif b"gunicorn" in cmdline:
            totals["gunicorn"] += seconds
        elif cmdline.startswith(b"postgres"):
            totals["postgres"] += seconds
    with open("/proc/stat") as f:
        cpu = [int(x) / tick for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: the whole machine, kernel included
    totals["machine busy"] = sum(cpu[:8]) - cpu[3] - cpu[4]
    totals["machine steal"] = cpu[7]
    return totals


def cpu_per_round(before: dict, after: dict, rounds: int) -> str:
    if not rounds:
        return "no rounds"
    return ", ".join(
        f"{name} {(after[name] - before[name]) / rounds * 1000:.1f} ms" for name in after
    )


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] * 1000


async def run_client(args, port, project, tokens):
    import aiohttp

    # gunicorn's sync workers close every connection after one response: never reuse one;
    # gthread workers keep it open, as a browser or API client would
    connector = aiohttp.TCPConnector(limit=args.max_inflight + 100, force_close=not args.threads)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(session, f"http://127.0.0.1:{port}", project)
        closed = await closed_loop(client, tokens[: args.labelers], args.seconds)
        closed["errors"], closed["empty"] = client.errors, client.empty
        client.errors, client.empty = {}, 0
        opened = await open_loop(
            client, tokens[args.labelers :], args.rate, args.seconds, args.max_inflight
        )
        opened["errors"], opened["empty"] = client.errors, client.empty
        return closed, opened


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count(),
        help="gunicorn workers (default: one per core, the fastest here: PostgreSQL and this "
        "client share the cores, and more workers only add context switches)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="gthread workers with this many threads and keep-alive (0: sync workers)",
    )
    parser.add_argument("--labelers", type=int, default=50, help="closed-loop labelers")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop rounds per second")
    parser.add_argument("--pool", type=int, default=1500, help="open-loop labeler pool")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--max-inflight", type=int, default=1000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--gunicorn-config", help="extra gunicorn config file (experiments)")
    parser.add_argument(
        "--tasks",
        type=int,
        default=5000,
        help="open tasks in the fresh project (the cost of `next` grows with them)",
    )
    args = parser.parse_args()
    setup()
    users, tokens = ensure_labelers(args.labelers + args.pool)
    # never running dry: twice what the open loop offers plus 500 rounds/s closed (an empty
    # queue would read as a slow server; both phases report it)
    n_tasks = max(args.tasks, int(500 * (args.seconds + WARMUP_S) + 2 * args.rate * args.seconds))
    project = make_project(n_tasks, users)
    print(f"project {project}: {n_tasks:,} tasks of K={K}; gunicorn --workers {args.workers}")
    server = start_gunicorn(args.workers, args.port, args.gunicorn_config, args.threads)
    try:
        closed, opened = asyncio.run(run_client(args, args.port, project, tokens))
    finally:
        stop(server)
    lat = closed["latencies"]
    print(
        f"closed loop, {args.labelers} labelers, {args.seconds:.0f} s: "
        f"{closed['rate']:.1f} rounds/s; round latency p50 {pct(lat, 50):.0f} ms, "
        f"p95 {pct(lat, 95):.0f} ms, p99 {pct(lat, 99):.0f} ms; errors {closed['errors'] or 0}; "
        f"empty queue {closed['empty']}"
    )
    print(f"  CPU per round: {closed['cpu']}")
    lat = opened["latencies"]
    print(
        f"open loop, {args.rate:.0f} rounds/s offered over {args.pool} labelers, "
        f"{args.seconds:.0f} s: {opened['rate']:.1f} rounds/s completed; "
        f"p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, p99 {pct(lat, 99):.0f} ms, "
        f"mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.0f} ms; "
        f"dropped {opened['dropped']}; errors {opened['errors'] or 0}; "
        f"empty queue {opened['empty']}"
    )
    print(
        "targets: >= 150 rounds/s closed loop, p95 < 100 ms open loop; "
        "peer (issue): Label Studio 1.23 ~8 rounds/s, p95 ~7 s at 50 labelers"
    )


if __name__ == "__main__":
    main()
