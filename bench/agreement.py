"""Agreement statistics on 100,000 rankings: our whole ``project_agreement`` against peers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preflab_bench_agreement \\
        .venv/bin/python bench/agreement.py [--rankings 100000]

Builds (once; reused on later runs) a simulated campaign of about N current rankings
(overlap 3, K 4..9, 6 labelers + 1 spammer) with ``labeling.demo.simulation``, then times:
- ours: ``compute_document(load(project))``, the uncached path of ``project_agreement``
  (SQL load + every statistic + 1,000 bootstrap resamples), split into load and stats;
- peers on the same arrays: the ``krippendorff`` package's ordinal alpha, and the
  straightforward Python loop over ranking pairs and response pairs for pairwise agreement
  (what ``labeler_stats.pair_agreement`` does per pair).
Prints ratios against the peers measured in the same run. Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflab.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/preflab_bench_agreement")

import django  # noqa: E402

django.setup()

import krippendorff  # noqa: E402
import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from labeling.demo.simulation import SimulationConfig, simulate  # noqa: E402
from labeling.models import Project, Ranking  # noqa: E402
from labeling.quality import agreement_stats as stats  # noqa: E402
from labeling.quality.agreement import compute_document, load  # noqa: E402
from labeling.quality.labeler_stats import pair_agreement  # noqa: E402


def ensure_database():
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("postgresql"):
        import psycopg

        name = settings["NAME"]
        admin = f"host={settings['HOST'] or '127.0.0.1'} user={settings['USER']} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def ensure_campaign(n_rankings: int) -> Project:
    slug = f"bench-agreement-{n_rankings}"
    project, created = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
    if created or not Ranking.objects.filter(task__project=project).exists():
        started = time.perf_counter()
        tasks = int(round(n_rankings / 3 / 0.95))
        summary = simulate(
            project,
            SimulationConfig(
                labelers=6,
                spammers=1,
                tasks=tasks,
                overlap=3,
                k_min=4,
                k_max=9,
                skip_prob=0.05,
                prefix=f"bench{n_rankings}",
            ),
        )
        print(f"built campaign {summary} in {time.perf_counter() - started:.1f} s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum would do after a bulk load
                cursor.execute("ANALYZE")
    return project


def python_pairwise(rs: stats.RankingSet) -> float:
    """The peer: loop over ranking pairs of each task, then over response pairs."""
    by_task: dict[int, list[int]] = {}
    for row, task in enumerate(rs.task.tolist()):
        by_task.setdefault(task, []).append(row)
    agree = total = 0
    for rows in by_task.values():
        maps = [{c: r for c, r in enumerate(rs.ranks[row].tolist()) if r == r} for row in rows]
        for a in range(len(maps)):
            for b in range(a + 1, len(maps)):
                x, y = pair_agreement(maps[a], maps[b])
                agree, total = agree + x, total + y
    return agree / total


def reliability(rs: stats.RankingSet) -> np.ndarray:
    n_tasks = int(rs.task.max()) + 1
    data = np.full((int(rs.labeler.max()) + 1, n_tasks * stats.MAX_K), np.nan)
    for row in range(len(rs)):
        start = rs.task[row] * stats.MAX_K
        data[rs.labeler[row], start : start + stats.MAX_K] = rs.ranks[row]
    return data


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def cpu_timed(fn):
    """(value, wall seconds, this process's CPU seconds): on a shared machine the CPU time
    is the steadier number (the database server's share is in wall time only)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rankings", type=int, default=100_000)
    args = parser.parse_args()
    ensure_database()
    project = ensure_campaign(args.rankings)

    data, t_load = timed(lambda: load(project))
    doc, t_stats = timed(lambda: compute_document(data))
    _, t_total, cpu_total = cpu_timed(lambda: compute_document(load(project)))
    n = len(data.rs)
    print(f"rankings: {n}, tasks with overlap: {doc['n_tasks_with_overlap']}")
    print(
        f"ours: load {t_load:.2f} s + statistics {t_stats:.2f} s; end to end {t_total:.2f} s "
        f"wall, {cpu_total:.2f} s CPU (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    print(f"  {'PASS' if t_total < 10 else 'FAIL'}: the target is < 10 s for 100,000 rankings")

    alpha_ours, t_alpha = timed(lambda: stats.rank_alpha(data.rs))
    matrix = reliability(data.rs)
    alpha_peer, t_alpha_peer = timed(
        lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal")
    )
    print(
        f"ordinal alpha: ours {t_alpha:.3f} s, krippendorff package {t_alpha_peer:.3f} s "
        f"(ratio peer/ours {t_alpha_peer / t_alpha:.1f}x); values {alpha_ours:.6f} vs "
        f"{alpha_peer:.6f}"
    )
    pc, t_pairs = timed(lambda: stats.pair_counts(data.rs))
    agreement_peer, t_loop = timed(lambda: python_pairwise(data.rs))
    print(
        f"pairwise agreement: ours {t_pairs:.3f} s, Python loop {t_loop:.3f} s "
        f"(ratio {t_loop / t_pairs:.1f}x); values {stats.pairwise_agreement(pc):.6f} vs "
        f"{agreement_peer:.6f}"
    )


if __name__ == "__main__":
    main()
