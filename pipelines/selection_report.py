"""Which active selection policy buys reward-model accuracy with fewer rankings?

Generate jobs can choose the prompts they turn into ranking tasks by a selection policy
(``training/engine/selection.py``: random, rm_spread, rm_disagreement), and each task
keeps the name (``RankingTask.selection_policy``). Labeling is the expensive part of the
loop, so the question a policy has to answer is: to reach a given held-out accuracy, how
many rankings does the RM need? This report puts every succeeded RM job on that plane:
x = the train-split rankings it learned from (its snapshot), y = its held-out pairwise
accuracy ("eval/accuracy"), one series per policy of the tasks it trained on. A policy
whose curve rises left of another's gets there with fewer rankings.

A snapshot is immutable and content-addressed, and a task's policy is written once, when
the task is made; so a snapshot's summary is computed once per process (keyed on its hash
and path) and the dashboard does not re-read snapshot files on every request.
"""

from collections import Counter
from functools import lru_cache

import plotly.graph_objects as go

from labeling.models import RankingTask
from training.jobs import is_number
from training.models import DatasetSnapshot, JobMetric, TrainingJob
from training.snapshots import snapshot_rows

ACCURACY = "eval/accuracy"
MIXED = "mixed"
NO_POLICY = "none (imported)"
TITLE = "RM held-out accuracy per 1,000 rankings, by selection policy"
# task ids per query: well under any driver's limit on bound parameters
ID_CHUNK = 5000


def rm_accuracy_by_policy(project=None) -> list[dict]:
    """One row per succeeded RM job (of ``project``, or of all projects) that has a snapshot
    and a held-out accuracy, oldest first."""
    jobs = TrainingJob.objects.filter(
        kind=TrainingJob.Kind.REWARD,
        status=TrainingJob.Status.SUCCEEDED,
        snapshot__isnull=False,
    ).select_related("project", "snapshot", "output_checkpoint")
    if project is not None:
        jobs = jobs.filter(project=project)
    rows = []
    for job in jobs.order_by("finished_at", "id"):
        accuracy = final_metrics(job).get(ACCURACY)
        if not is_number(accuracy):
            continue
        try:
            rankings, policies = train_rankings_by_policy(
                job.snapshot.content_hash, job.snapshot.path
            )
        except FileNotFoundError:  # its files were removed by hand: nothing to count, no 500
            continue
        rows.append(
            {
                "job": job.pk,
                "project": job.project.slug,
                "policy": policy_label(dict(policies)),
                "rankings": rankings,
                "per_1000": rankings / 1000,
                "accuracy": float(accuracy),
                "finished_at": job.finished_at,
            }
        )
    return rows


def final_metrics(job: TrainingJob) -> dict:
    """The job's final numbers as ``pipelines.service.stage_metrics`` reads them: the last
    metric step, overridden by its output checkpoint's metrics. Only the last step is
    fetched, not the whole series."""
    last = JobMetric.objects.filter(job=job).order_by("-step").first()
    metrics = dict(last.values) if last is not None else {}
    if job.output_checkpoint is not None:
        metrics.update(job.output_checkpoint.metrics)
    return metrics


@lru_cache(maxsize=512)
def train_rankings_by_policy(content_hash: str, path: str) -> tuple[int, tuple]:
    """(train-split rankings in the snapshot, ((policy, rankings), ...)). ``content_hash``
    is only the cache key: the same path with other content would be another snapshot."""
    per_task: Counter = Counter()
    seen = set()
    # the reader needs only the path; a pairs export repeats a ranking once per pair, so
    # each ranking is counted once
    for row in snapshot_rows(DatasetSnapshot(path=path)):
        if row.get("split") == "train" and row["ranking_id"] not in seen:
            seen.add(row["ranking_id"])
            per_task[row["task_id"]] += 1
    per_policy: Counter = Counter()
    for policy, task_ids in _tasks_by_policy(list(per_task)).items():
        per_policy[policy] += sum(per_task[task_id] for task_id in task_ids)
    return len(seen), tuple(sorted(per_policy.items()))


def _tasks_by_policy(task_ids: list[int]) -> dict[str, list[int]]:
    by_policy: dict[str, list[int]] = {}
    for start in range(0, len(task_ids), ID_CHUNK):
        chunk = task_ids[start : start + ID_CHUNK]
        for task_id, policy in RankingTask.objects.filter(pk__in=chunk).values_list(
            "id", "selection_policy"
        ):
            by_policy.setdefault(policy, []).append(task_id)
    return by_policy


def policy_label(rankings_per_policy: dict[str, int]) -> str:
    """The policy the job trained on: one name, "mixed" when generated tasks of several
    policies are in, "none (imported)" when none of its tasks was chosen by a policy.
    Imported tasks next to one policy's do not make it mixed: they are the common base."""
    chosen = sorted(policy for policy, n in rankings_per_policy.items() if policy and n)
    if not chosen:
        return NO_POLICY
    return chosen[0] if len(chosen) == 1 else MIXED


def figure(rows: list[dict]) -> go.Figure:
    """Accuracy against rankings (thousands), one line per policy."""
    by_policy: dict[str, list[dict]] = {}
    for row in rows:
        by_policy.setdefault(row["policy"], []).append(row)
    fig = go.Figure()
    for policy in sorted(by_policy):
        points = sorted(by_policy[policy], key=lambda row: (row["rankings"], row["job"]))
        fig.add_trace(
            go.Scatter(
                name=policy,
                mode="lines+markers",
                x=[row["per_1000"] for row in points],
                y=[row["accuracy"] for row in points],
                customdata=[row["job"] for row in points],
                hovertemplate="job %{customdata}: %{y:.1%} at %{x:.2f}k rankings",
            )
        )
    fig.add_hline(y=0.5, line_dash="dash", line_color="gray", annotation_text="chance")
    fig.update_layout(
        title=TITLE,
        xaxis_title="train rankings (thousands)",
        yaxis_title="held-out pairwise accuracy",
        yaxis_range=[0.4, 1.0],
        legend_title="selection policy",
    )
    return fig
