"""200 labelers at once over 1,000 tasks x overlap 3: every task gets exactly 3 distinct
labelers, with zero 5xx and zero lost or duplicated submissions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflab_bench_concurrency \\
        .venv/bin/python bench/concurrency.py [--labelers 200] [--tasks 1000] [--overlap 3]

A real gunicorn (bench/labeling.py's: DEBUG off, persistent connections) on PostgreSQL, this
process the client (aiohttp, loopback). Each labeler loops ``POST /api/v1/tasks/next/`` →
``POST /api/v1/tasks/<id>/submit/`` until ``next`` answers 204. Every ``--resend``-th
submission is sent a second time with the same idempotency key, as a client whose answer was
lost would; a request that times out is retried the same way. Then the database is checked
against what the server acknowledged:

- every task has exactly ``--overlap`` current rankings, by distinct labelers;
- every 2xx submission is a ranking in the database (none lost), and the database holds no
  ranking that was not acknowledged, nor two of one labeler on one task (none duplicated);
- a resent submission answered the same ranking.

Bounded by ``--timeout`` seconds in all (exit 2 past it). Exit 1 when a check fails. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

os.environ.setdefault(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/preflab_bench_concurrency"
)
# bench/labeling.py's server, project and labelers; loaded by path, as its name is the app's
_spec = importlib.util.spec_from_file_location(
    "bench_labeling", Path(__file__).resolve().parent / "labeling.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ATTEMPTS = 4  # a request that times out is sent again (same key) up to this many times


class Labelers(bench.Client):
    """bench.Client's session and error counts; each round remembers what was acknowledged."""

    def __init__(self, session, base: str, project: str, resend_every: int):
        super().__init__(session, base, project)
        self.resend_every = resend_every
        self.acknowledged: dict[int, tuple[str, int]] = {}  # ranking id -> (token, task id)
        self.server_errors = 0
        self.resent = self.resent_same = self.submits = 0
        self.finished: set[str] = set()  # labelers who got a 204

    async def _post(self, url: str, body: dict, headers: dict):
        """(status, json or None); a timeout or a dropped connection is retried."""
        import aiohttp

        for attempt in range(ATTEMPTS):
            try:
                async with self.session.post(url, json=body, headers=headers) as response:
                    data = await response.json() if response.status in (200, 201) else None
                    if response.status >= 500:
                        self.server_errors += 1
                    return response.status, data
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._error(f"{type(exc).__name__} (retried)")
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _round(self, token: str) -> bool:
        headers = {"Authorization": f"Token {token}"}
        status, body = await self._post(
            f"{self.base}/api/v1/tasks/next/", {"project": self.project}, headers
        )
        if status == 204:
            self.empty += 1
            self.finished.add(token)
            return False
        if status != 200:
            self._error(f"next {status}")
            return False
        task = body["task"]
        ranks = list(range(1, task["k"] + 1))
        random.shuffle(ranks)
        submit = {
            "items": [{"rank": r, "likert": 4, "flags": []} for r in ranks],
            "submission_key": uuid.uuid4().hex,
            "seconds_spent": 30,
        }
        url = f"{self.base}/api/v1/tasks/{task['id']}/submit/"
        status, done = await self._post(url, submit, headers)
        if status != 201:
            self._error(f"submit {status}")
            return False
        self.submits += 1
        self.acknowledged[done["id"]] = (token, task["id"])
        if self.submits % self.resend_every == 0:
            self.resent += 1
            again_status, again = await self._post(url, submit, headers)
            if again_status in (200, 201) and again["id"] == done["id"]:
                self.resent_same += 1
            else:
                self._error(f"resend {again_status}")
        return True


async def labeler(client: Labelers, token: str, stop_at: float) -> None:
    """Rounds until the first 204: nothing is left this labeler may rank."""
    while time.monotonic() < stop_at and token not in client.finished:
        await client.round(token)


async def run(args, port: int, project: str, tokens: list[str]) -> Labelers:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=len(tokens) + 10, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Labelers(session, f"http://127.0.0.1:{port}", project, args.resend)
        stop_at = time.monotonic() + args.timeout
        await asyncio.wait_for(
            asyncio.gather(*(labeler(client, t, stop_at) for t in tokens)), args.timeout + 30
        )
        return client


def check(project_slug: str, overlap: int, n_tasks: int, client: Labelers, token_user) -> list:
    """What the database holds against what was acknowledged; the failures, [] when none."""
    from labeling.models import Ranking, RankingTask

    failures = []
    rows = list(
        Ranking.objects.filter(task__project__slug=project_slug).values_list(
            "id", "task_id", "labeler_id", "is_current"
        )
    )
    current = [(task, who) for _, task, who, is_current in rows if is_current]
    per_task = Counter(task for task, _ in current)
    distinct = {task: len({w for t, w in current if t == task}) for task in per_task}
    tasks = set(RankingTask.objects.filter(project__slug=project_slug).values_list("id", flat=True))
    if len(tasks) != n_tasks:
        failures.append(f"{len(tasks)} tasks in the project, expected {n_tasks}")
    short = [t for t in tasks if per_task.get(t, 0) != overlap or distinct.get(t, 0) != overlap]
    if short:
        failures.append(f"{len(short)} tasks without exactly {overlap} distinct labelers")
    twice = [pair for pair, n in Counter(current).items() if n > 1]
    if twice:
        failures.append(f"{len(twice)} (task, labeler) pairs ranked twice")
    stored = {pk: (task, who) for pk, task, who, _ in rows}
    lost = [pk for pk in client.acknowledged if pk not in stored]
    if lost:
        failures.append(f"{len(lost)} acknowledged submissions missing from the database")
    extra = [pk for pk in stored if pk not in client.acknowledged]
    if extra:
        failures.append(f"{len(extra)} rankings in the database never acknowledged")
    wrong = [
        pk
        for pk, (token, task) in client.acknowledged.items()
        if pk in stored and stored[pk] != (task, token_user[token])
    ]
    if wrong:
        failures.append(f"{len(wrong)} acknowledged rankings stored on another task or labeler")
    if client.server_errors:
        failures.append(f"{client.server_errors} 5xx answers")
    if client.resent != client.resent_same:
        failures.append(f"{client.resent - client.resent_same} resends not answered the same")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labelers", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="gunicorn workers")
    parser.add_argument("--resend", type=int, default=10, help="resend every Nth submission")
    parser.add_argument("--timeout", type=float, default=600, help="hard limit, seconds")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    bench.setup()
    from labeling.models import Project, RankingTask

    users, tokens = bench.ensure_labelers(args.labelers)
    slug = bench.make_project(args.tasks, users)
    # bench.make_project makes overlap-1 tasks: each now needs --overlap labelers
    Project.objects.filter(slug=slug).update(overlap=args.overlap)
    RankingTask.objects.filter(project__slug=slug).update(overlap=args.overlap)
    token_user = dict(zip(tokens, (u.pk for u in users), strict=True))
    print(
        f"project {slug}: {args.tasks:,} tasks x overlap {args.overlap}, {args.labelers} "
        f"labelers; gunicorn --workers {args.workers}"
    )
    server = bench.start_gunicorn(args.workers, args.port)
    started = time.perf_counter()
    try:
        client = asyncio.run(run(args, args.port, slug, tokens))
    except TimeoutError:
        print(f"FAILED: not done within --timeout {args.timeout:.0f} s")
        sys.exit(2)
    finally:
        bench.stop(server)
    seconds = time.perf_counter() - started
    failures = check(slug, args.overlap, args.tasks, client, token_user)
    print(
        f"{'OK' if not failures else 'FAILED'}: {len(client.acknowledged):,} submissions "
        f"acknowledged in {seconds:.1f} s ({len(client.acknowledged) / seconds:.1f}/s) by "
        f"{args.labelers} labelers; 5xx {client.server_errors}; resent with the same key "
        f"{client.resent} (same ranking back {client.resent_same}); other answers "
        f"{client.errors or 'none'}"
    )
    for failure in failures:
        print(f"  - {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
