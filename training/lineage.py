"""A project's checkpoint lineage as a graph, read from its training jobs: the snapshots the
jobs trained on, every checkpoint a job started from or produced, and the evaluations.

Nodes are dicts {"id", "kind", "label", "name", "created_at", "metrics", "checkpoint_id", "x",
"y"}; edges are dicts {"source", "target", "label"}. ``layout`` places the nodes in columns by
kind (snapshot, base, sft, rm, policy, evaluation; empty columns left out) and rows by creation
order, the oldest on top. A DPO job's policy is a policy node like PPO's: its base and its
rankings snapshot point to it, and no reward model does (DPO trains without one)."""

from .models import Checkpoint, DatasetSnapshot, TrainingJob

COLUMNS = ("snapshot", "base", "sft", "rm", "policy", "evaluation")
# the metrics a checkpoint's table row and hover show, per kind
KEY_METRICS = {
    "sft": ("eval/loss",),
    "rm": ("eval/accuracy", "eval/accuracy_longer_wins"),
    "policy": ("ppo/score_gain", "objective/kl"),
}
# a DPO policy has no PPO numbers: its held-out preference accuracy and margin instead
DPO_METRICS = ("eval/accuracy", "eval/margin")
WIN_RATE = "eval/win_rate"


def key_metrics(kind: str, metrics: dict | None) -> dict:
    metrics = metrics or {}
    shown = {key: metrics[key] for key in KEY_METRICS.get(kind, ()) if key in metrics}
    if kind == "policy" and not shown:
        shown = {key: metrics[key] for key in DPO_METRICS if key in metrics}
    return shown


def reward_checkpoint(job, checkpoints=None):
    """The job's reward model, found back by its folder the way ``training.jobs.rerun`` does:
    the oldest rm checkpoint with the path recorded in ``config["reward_model"]``."""
    path = (job.config or {}).get("reward_model")
    if not path:
        return None
    if checkpoints is not None:
        found = [c for c in checkpoints if c.kind == "rm" and c.path == path]
        if found:
            return min(found, key=lambda c: c.pk)
    return Checkpoint.objects.filter(kind="rm", path=path).order_by("id").first()


def _baseline_id(job):
    value = (job.config or {}).get("baseline_checkpoint")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _win_rate(job):
    for row in sorted(job.metric_rows.all(), key=lambda r: r.step, reverse=True):
        if WIN_RATE in row.values:
            return row.values[WIN_RATE]
    return None


def fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def project_checkpoints(project, jobs=None) -> list:
    """Every checkpoint a job of the project started from or produced (its base, its output,
    its reward model, an evaluation's baseline), oldest first."""
    jobs = list(TrainingJob.objects.filter(project=project)) if jobs is None else jobs
    ids = set()
    reward_paths = set()
    for job in jobs:
        ids.update(i for i in (job.base_checkpoint_id, job.output_checkpoint_id) if i)
        if _baseline_id(job):
            ids.add(_baseline_id(job))
        if (job.config or {}).get("reward_model"):
            reward_paths.add(job.config["reward_model"])
    found = {c.pk: c for c in Checkpoint.objects.filter(pk__in=ids)}
    for path in reward_paths:
        reward = Checkpoint.objects.filter(kind="rm", path=path).order_by("id").first()
        if reward is not None:
            found[reward.pk] = reward
    return sorted(found.values(), key=lambda c: (c.created_at, c.pk))


def _checkpoint_node(checkpoint) -> dict:
    return {
        "id": f"checkpoint-{checkpoint.pk}",
        "kind": checkpoint.kind,
        "label": f"{checkpoint.kind} #{checkpoint.pk}",
        "name": checkpoint.name,
        "created_at": checkpoint.created_at,
        "metrics": key_metrics(checkpoint.kind, checkpoint.metrics),
        "checkpoint_id": checkpoint.pk,
    }


def project_lineage(project) -> dict:
    jobs = list(
        TrainingJob.objects.filter(project=project)
        .select_related("snapshot")
        .prefetch_related("metric_rows")
        .order_by("created_at", "id")
    )
    checkpoints = project_checkpoints(project, jobs)
    by_id = {c.pk: c for c in checkpoints}
    nodes = {f"checkpoint-{c.pk}": _checkpoint_node(c) for c in checkpoints}
    edges = []

    def edge(source, target, label=""):
        if source in nodes and target in nodes:
            if not any(e["source"] == source and e["target"] == target for e in edges):
                edges.append({"source": source, "target": target, "label": label})

    snapshot_ids = {c.snapshot_id for c in checkpoints if c.snapshot_id}
    snapshot_ids.update(job.snapshot_id for job in jobs if job.snapshot_id)
    for snapshot in DatasetSnapshot.objects.filter(pk__in=snapshot_ids).order_by("created_at"):
        nodes[f"snapshot-{snapshot.pk}"] = {
            "id": f"snapshot-{snapshot.pk}",
            "kind": "snapshot",
            "label": f"snapshot {snapshot.pk}",
            "name": f"{snapshot.kind} · {snapshot.n_rows} rows",
            "created_at": snapshot.created_at,
            "metrics": {},
            "checkpoint_id": None,
        }

    for job in jobs:
        output = f"checkpoint-{job.output_checkpoint_id}"
        base = f"checkpoint-{job.base_checkpoint_id}"
        if job.kind == "evaluate":
            node_id = f"evaluation-{job.pk}"
            win_rate = _win_rate(job)
            nodes[node_id] = {
                "id": node_id,
                "kind": "evaluation",
                "label": f"evaluation {job.pk}",
                "name": job.status,
                "created_at": job.created_at,
                "metrics": {WIN_RATE: win_rate} if win_rate is not None else {},
                "checkpoint_id": None,
            }
            label = f"win rate {fmt(win_rate)}" if win_rate is not None else ""
            edge(base, node_id, label)
            if _baseline_id(job):
                edge(f"checkpoint-{_baseline_id(job)}", node_id, "baseline")
            reward = reward_checkpoint(job, checkpoints)
            if reward is not None:
                edge(f"checkpoint-{reward.pk}", node_id, "judge")
            continue
        if job.output_checkpoint_id is None:
            continue
        if job.snapshot_id:
            edge(f"snapshot-{job.snapshot_id}", output)
        if job.base_checkpoint_id:
            edge(base, output)
        if job.kind == "ppo":
            reward = reward_checkpoint(job, checkpoints)
            if reward is not None:
                edge(f"checkpoint-{reward.pk}", output, "reward")
    # the checkpoints' own records, for what no job of the project says
    for checkpoint in checkpoints:
        if checkpoint.parent_id in by_id:
            edge(f"checkpoint-{checkpoint.parent_id}", f"checkpoint-{checkpoint.pk}")
        if checkpoint.snapshot_id:
            edge(f"snapshot-{checkpoint.snapshot_id}", f"checkpoint-{checkpoint.pk}")

    node_list = list(nodes.values())
    layout(node_list)
    return {"nodes": node_list, "edges": edges}


def layout(nodes: list[dict]) -> list[dict]:
    """Sets each node's x (its kind's column among the columns that have nodes) and y (minus
    its rank by creation within the column, so the oldest is on top; every other column half a
    row lower, so that an edge that skips columns passes between their nodes, not through
    them). Returns the nodes."""
    present = [kind for kind in COLUMNS if any(node["kind"] == kind for node in nodes)]
    for x, kind in enumerate(present):
        column = sorted(
            (node for node in nodes if node["kind"] == kind),
            key=lambda node: (node["created_at"], node["id"]),
        )
        for row, node in enumerate(column):
            node["x"], node["y"] = x, -row - 0.5 * (x % 2)
    return nodes
