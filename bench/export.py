"""Exporting 1,000,000 comparison pairs from PostgreSQL: rows/s and peak RSS, against COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflab_bench_export \\
        .venv/bin/python bench/export.py [--pairs 1000000] [--gzip]

Builds (once; reused on later runs) a project of ``pairs / 15`` tasks of K = 6 with one
current ranking each, no ties (15 pairs per ranking), realistic text lengths (prompt ~200
characters, responses ~450), with set-based SQL. Then, in the same run:
- ours: a fresh child process runs the HTTP export's code path
  (``exports.comparison_rows`` → ``export_formats.jsonl_chunks``) into /dev/null and
  reports rows/s and its peak RSS (``ru_maxrss``, the whole process: Django, pyarrow and
  all);
- the ceiling: PostgreSQL builds the same pairs itself as JSON (``json_build_object`` over
  a self-join of the items) and streams them with ``COPY ... TO STDOUT``, read and
  discarded by psycopg. No Python per row, so no Python exporter can beat it.
Prints the figures and ratios. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/preflab_bench_export")

K = 6
PAIRS_PER_RANKING = K * (K - 1) // 2


def setup_django():
    import django

    django.setup()


def ensure_database():
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


def ensure_project(n_pairs: int):
    """The bench project with n_pairs / 15 ranked tasks, built in SQL the first time."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.models import Project, Ranking

    n_tasks = -(-n_pairs // PAIRS_PER_RANKING)
    slug = f"bench-export-{n_tasks}"
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
    if Ranking.objects.filter(task__project=project).count() == n_tasks:
        return project, n_tasks
    user, _ = get_user_model().objects.get_or_create(username="bench-labeler")
    started = time.perf_counter()
    print(f"building {n_tasks:,} ranked tasks of K={K} (once) ...", flush=True)
    statements = [
        """DELETE FROM labeling_rankingitem WHERE ranking_id IN (SELECT r.id FROM
           labeling_ranking r JOIN labeling_rankingtask t ON t.id = r.task_id
           WHERE t.project_id = %(p)s)""",
        """DELETE FROM labeling_ranking WHERE task_id IN
           (SELECT id FROM labeling_rankingtask WHERE project_id = %(p)s)""",
        """DELETE FROM labeling_taskresponse WHERE task_id IN
           (SELECT id FROM labeling_rankingtask WHERE project_id = %(p)s)""",
        "DELETE FROM labeling_rankingtask WHERE project_id = %(p)s",
        """DELETE FROM labeling_response WHERE prompt_id IN
           (SELECT id FROM labeling_prompt WHERE project_id = %(p)s)""",
        "DELETE FROM labeling_prompt WHERE project_id = %(p)s",
        """INSERT INTO labeling_prompt (project_id, external_id, text, source_user, category,
               split, dedup_key, metadata, created_at)
           SELECT %(p)s, 'b' || i,
                  'Prompt ' || i || ': ' || repeat('explain the trade-offs of caching ', 6),
                  'user' || (i %% 997), 'open_qa',
                  CASE WHEN i %% 10 = 8 THEN 'validation' WHEN i %% 10 = 9 THEN 'test'
                       ELSE 'train' END,
                  md5(i::text), '{}', now()
           FROM generate_series(1, %(n)s) AS i""",
        """INSERT INTO labeling_response (prompt_id, text, text_hash, origin, model_name,
               metadata, created_at)
           SELECT p.id, 'Response ' || j || ' to ' || p.external_id || '. '
                        || repeat('Lorem ipsum dolor sit amet, consectetur. ', 11),
                  md5(p.id || '-' || j), 'model', 'bench', '{}', now()
           FROM labeling_prompt p CROSS JOIN generate_series(0, %(k)s - 1) AS j
           WHERE p.project_id = %(p)s""",
        """INSERT INTO labeling_rankingtask (project_id, prompt_id, k, overlap, source,
               is_gold, created_at)
           SELECT %(p)s, p.id, %(k)s, 1, 'labeling', false, now()
           FROM labeling_prompt p WHERE p.project_id = %(p)s""",
        """INSERT INTO labeling_taskresponse (task_id, response_id, position)
           SELECT t.id, r.id, row_number() OVER (PARTITION BY t.id ORDER BY r.id) - 1
           FROM labeling_rankingtask t JOIN labeling_response r ON r.prompt_id = t.prompt_id
           WHERE t.project_id = %(p)s""",
        """INSERT INTO labeling_ranking (task_id, labeler_id, version, is_current,
               all_unacceptable, comment, seconds_spent, submission_key, submitted_at)
           SELECT t.id, %(u)s, 1, true, false, '', 30, '', now()
           FROM labeling_rankingtask t WHERE t.project_id = %(p)s""",
        # a permutation per ranking: no ties, a different order for each task
        """INSERT INTO labeling_rankingitem (ranking_id, response_id, rank, flags)
           SELECT r.id, tr.response_id, ((tr.position + r.task_id) %% %(k)s) + 1, '[]'
           FROM labeling_ranking r JOIN labeling_taskresponse tr ON tr.task_id = r.task_id
           JOIN labeling_rankingtask t ON t.id = r.task_id
           WHERE t.project_id = %(p)s""",
    ]
    params = {"p": project.pk, "n": n_tasks, "k": K, "u": user.pk}
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return project, n_tasks


COPY_SQL = """
COPY (
  SELECT json_build_object('prompt', p.text, 'chosen', a_r.text, 'rejected', b_r.text,
                           'ranking_id', r.id, 'task_id', r.task_id, 'labeler', u.username,
                           'split', p.split)
  FROM labeling_ranking r
  JOIN labeling_rankingtask t ON t.id = r.task_id
  JOIN labeling_prompt p ON p.id = t.prompt_id
  JOIN auth_user u ON u.id = r.labeler_id
  JOIN labeling_rankingitem a ON a.ranking_id = r.id
  JOIN labeling_rankingitem b ON b.ranking_id = r.id AND a.rank < b.rank
  JOIN labeling_response a_r ON a_r.id = a.response_id
  JOIN labeling_response b_r ON b_r.id = b.response_id
  WHERE t.project_id = {project} AND r.is_current AND NOT t.is_gold
  ORDER BY r.id
) TO STDOUT
"""


def copy_ceiling(project_id: int) -> dict:
    """PostgreSQL building and streaming the same pairs as JSON lines on its own."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection  # psycopg 3 connection
    rows = size = 0
    started = time.perf_counter()
    with raw.cursor() as cursor:
        with cursor.copy(COPY_SQL.format(project=int(project_id))) as copy:
            for block in copy:
                size += len(block)
                rows += bytes(block).count(b"\n")
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "bytes": size}


def child(project_id: int, use_gzip: bool) -> None:
    """Ours, in a fresh process so that ru_maxrss is this export's peak alone."""
    setup_django()
    from labeling.models import Project
    from labeling.outputs.export_formats import jsonl_chunks
    from labeling.outputs.exports import export_rows

    project = Project.objects.get(pk=project_id)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = size = 0

    def counted(generator):
        nonlocal rows
        for row in generator:
            rows += 1
            yield row

    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for chunk in jsonl_chunks(counted(export_rows("comparisons", project)), gzip=use_gzip):
            size += len(chunk)
            sink.write(chunk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "bytes": size,
                "peak_rss_mb": peak,
                "rss_before_mb": rss_before,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="also gzip (compression cost)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.gzip)
        return
    setup_django()
    ensure_database()
    project, n_tasks = ensure_project(args.pairs)
    print(f"project {project.slug}: {n_tasks:,} rankings x {PAIRS_PER_RANKING} pairs", flush=True)

    command = [sys.executable, __file__, "--child", str(project.pk)]
    if args.gzip:
        command.append("--gzip")
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    ceiling = copy_ceiling(project.pk)

    ours_rate = ours["rows"] / ours["seconds"]
    copy_rate = ceiling["rows"] / ceiling["seconds"]
    print(f"{'':24}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'MB out':>10}{'peak RSS MB':>13}")
    print(
        f"{'ours (HTTP export path)':24}{ours['rows']:>12,}{ours['seconds']:>10.1f}"
        f"{ours_rate:>12,.0f}{ours['bytes'] / 1e6:>10.0f}{ours['peak_rss_mb']:>13.0f}"
    )
    print(
        f"{'PostgreSQL COPY (JSON)':24}{ceiling['rows']:>12,}{ceiling['seconds']:>10.1f}"
        f"{copy_rate:>12,.0f}{ceiling['bytes'] / 1e6:>10.0f}{'-':>13}"
    )
    print(
        f"ours / COPY = {ours_rate / copy_rate:.2f}   "
        f"(targets: >= 50,000 rows/s, >= 0.5 of COPY, < 300 MB RSS; "
        f"RSS before the export started: {ours['rss_before_mb']:.0f} MB)"
    )
    if ours["rows"] != ceiling["rows"]:
        print(f"WARNING: row counts differ: ours {ours['rows']} vs COPY {ceiling['rows']}")


if __name__ == "__main__":
    main()
