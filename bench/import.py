"""Importing 1,000,000 responses: rows/s and peak RSS of ``import_responses``, against a raw
bulk load of the same rows in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflab_h4_bench \\
        .venv/bin/python bench/import.py [--rows 1000000] [--gzip]
    .venv/bin/python bench/import.py --rows 1000000          # no DATABASE_URL: a temp SQLite file

Writes N response rows as JSONL (gzipped with ``--gzip``) into a temp dir: each row names
its prompt by text, one prompt per 4 responses (prompt ~200 characters, response ~450,
one of 8 model names), so the import creates N/4 prompts and N responses. Then, on a fresh
database (PostgreSQL: the database of DATABASE_URL, dropped and migrated; SQLite: a new
temp file):
- ours: a fresh child process runs ``run_import("responses", ...)``, the service behind
  ``manage.py import_responses``, and reports rows/s and its peak RSS (``ru_maxrss``, the
  whole process, Django included) and the summary line;
- the peer: another child reads the same file (json per line) into a scratch table of
  (prompt, response, model) text columns with ``COPY ... FROM STDIN`` (PostgreSQL) or
  ``executemany`` in one transaction (SQLite): no checks, no dedup, no prompts table, no
  indexes — the floor any importer pays to move these rows.
Prints the figures and the ratio. Not a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")

RESPONSES_PER_PROMPT = 4
MODELS = [f"model-{i}" for i in range(8)]
WORDS = (
    "the a model answer question data river mountain quickly slowly because therefore "
    "however light number seven history garden system train reward policy value"
).split()


def sentence(rng, n_chars: int) -> str:
    words, size = [], 0
    while size < n_chars:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words).capitalize() + "."


def write_rows(path: Path, n_rows: int) -> None:
    import random

    rng = random.Random(0)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for p in range(0, n_rows, RESPONSES_PER_PROMPT):
            prompt = f"Prompt {p // RESPONSES_PER_PROMPT}: " + sentence(rng, 200)
            for r in range(min(RESPONSES_PER_PROMPT, n_rows - p)):
                row = {"prompt": prompt, "response": sentence(rng, 450), "model": MODELS[r]}
                handle.write(json.dumps(row) + "\n")


def fresh_database(tmp: Path) -> str:
    """A DATABASE_URL for an empty, migrated database."""
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    if url.startswith("postgres"):
        import dj_database_url
        import psycopg

        settings = dj_database_url.parse(url)
        admin = f"host={settings['HOST'] or '127.0.0.1'} user={settings['USER']} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings["NAME"]}"')
            conn.execute(f'CREATE DATABASE "{settings["NAME"]}"')
    env = dict(os.environ, DATABASE_URL=url)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True, env=env
    )
    return url


def child_ours(path: str) -> None:
    import django

    django.setup()
    from labeling.intake.importers import run_import

    started = time.perf_counter()
    summary = run_import("responses", path, "bench-import")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": summary.read, "seconds": seconds, "peak_mb": peak,
                      "summary": summary.line()}))  # fmt: skip


def child_peer(path: str) -> None:
    import django

    django.setup()
    from django.db import connection, transaction

    from labeling.intake.records import read_records

    started = time.perf_counter()
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_import_peer")
        cursor.execute("CREATE TABLE bench_import_peer (prompt text, response text, model text)")
        records = ((r["prompt"], r["response"], r["model"]) for _, r in read_records(path))
        if connection.vendor == "postgresql":
            copy_sql = "COPY bench_import_peer (prompt, response, model) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in records:
                    copy.write_row(row)
                    rows += 1
        else:
            insert = "INSERT INTO bench_import_peer VALUES (%s, %s, %s)"
            batch = []
            for row in records:
                batch.append(row)
                if len(batch) == 5000:
                    cursor.executemany(insert, batch)
                    rows, batch = rows + len(batch), []
            cursor.executemany(insert, batch)
            rows += len(batch)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak}))


def run_child(role: str, path: Path, url: str) -> dict:
    env = dict(os.environ, DATABASE_URL=url)
    out = subprocess.run(
        [sys.executable, __file__, "--child", role, str(path)],
        check=True,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        role, path = args.child
        (child_ours if role == "ours" else child_peer)(path)
        return
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        path = tmp / ("responses.jsonl" + (".gz" if args.gzip else ""))
        write_rows(path, args.rows)
        url = fresh_database(tmp)
        database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
        print(f"{database}, {args.rows:,} response rows, {path.stat().st_size / 2**20:.0f} MiB")
        ours = run_child("ours", path, url)
        peer = run_child("peer", path, url)
    rate, peer_rate = ours["rows"] / ours["seconds"], peer["rows"] / peer["seconds"]
    print(f"  {ours['summary']}")
    print(
        f"ours (import_responses): {ours['rows']:,} rows in {ours['seconds']:.1f} s = "
        f"{rate:,.0f} rows/s, peak RSS {ours['peak_mb']:.0f} MB"
    )
    peer_name = "COPY" if database == "PostgreSQL" else "executemany"
    print(
        f"peer (raw {peer_name} into a scratch table): {peer['rows']:,} rows in "
        f"{peer['seconds']:.1f} s = {peer_rate:,.0f} rows/s, peak RSS {peer['peak_mb']:.0f} MB"
    )
    print(f"ratio ours / {peer_name}: {rate / peer_rate:.2f}")


if __name__ == "__main__":
    main()
