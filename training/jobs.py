"""Training jobs: create (everything validated before a row exists), run, and what each kind
reads and registers.

The API, the admin, the ``train`` / ``generate`` / ``job`` commands and the
Celery task all come through here; state moves live in ``lifecycle``, the engine's execution
in ``runner``. A job is enqueued with ``transaction.on_commit`` (no task for a rolled-back
row) and claimed with a conditional UPDATE (no job runs twice at once). The engine saves
resumable state under the job's folder, so a job that runs again continues where it stopped.

Validating a job imports no torch: the engine's config classes live in torch-free modules.
"""

import logging
import os
import traceback
from pathlib import Path

from django.conf import settings
from django.db import transaction

from labeling.errors import ServiceError
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.models import Prompt, Response

from . import lifecycle
from .models import Checkpoint, TrainingJob
from .runner import JobStopped, execute, is_number

log = logging.getLogger(__name__)

KINDS = ("sft", "rm", "ppo", "generate")
# The export frozen for a job's training data (PPO and generation read prompts).
SNAPSHOT_KIND = {"sft": "demonstrations", "rm": "rankings"}
OUTPUT_KIND = {"sft": "sft", "rm": "rm", "ppo": "policy"}
# The checkpoint kinds each job kind may start from.
BASE_KINDS = {
    "sft": ("base", "sft", "policy"),
    "rm": ("base", "sft"),
    "ppo": ("base", "sft", "policy"),
    "generate": ("base", "sft", "policy"),
}
# Keys of a job's config that choose its data or how it runs, not the engine's settings.
JOB_KEYS = {"split", "max_prompts", "prompt_ids", "create_tasks", "processes", "accelerate_config"}
# Keys the platform fills from checkpoints and the job folder.
MODEL_KEY = {"sft": "model", "rm": "model", "ppo": "policy", "generate": "model"}


class JobError(ServiceError):
    """A job that cannot be created as asked."""


def job_dir(job) -> Path:
    return Path(settings.PREFLAB_ARTIFACTS_DIR) / "jobs" / str(job.pk)


def base_checkpoint(name: str | None = None) -> Checkpoint:
    """The base model as a checkpoint row (resolved to a folder by the engine when used)."""
    name = name or settings.PREFLAB_BASE_MODEL
    checkpoint, _ = Checkpoint.objects.get_or_create(
        kind=Checkpoint.Kind.BASE, name=name, defaults={"path": name}
    )
    return checkpoint


def max_processes() -> int:
    """How many training processes a job may ask for: ``PREFLAB_MAX_PROCESSES``, or the GPUs
    this host has, or its CPU cores when it has none (read without torch)."""
    if settings.PREFLAB_MAX_PROCESSES:
        return settings.PREFLAB_MAX_PROCESSES
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    else:
        gpus_dir = Path("/proc/driver/nvidia/gpus")
        gpus = len(list(gpus_dir.iterdir())) if gpus_dir.is_dir() else 0
    return gpus or os.cpu_count() or 1


def engine_config(job):
    """The engine's config dataclass for a job: its JSON plus the platform's paths."""
    from training.engine.config import config_from_dict
    from training.engine.registry import config_class

    data = {k: v for k, v in job.config.items() if k not in JOB_KEYS}
    # The engine's command line takes files; a job's inputs come from its snapshot and
    # checkpoints, and its output folder from the platform, so a job config naming them
    # would be silently overridden.
    platform_keys = sorted(k for k in data if k.endswith("_file") or k == "output_dir")
    if platform_keys:
        raise JobError(
            "config",
            f"{platform_keys[0]}: set by the platform from the job's snapshot, checkpoints "
            "and folder, not in a job's config",
        )
    if job.base_checkpoint_id:
        data[MODEL_KEY[job.kind]] = job.base_checkpoint.path
    data["output_dir"] = str(job_dir(job) / "model")
    try:
        return config_from_dict(config_class(job.kind), data)
    except (TypeError, ValueError) as exc:
        raise JobError("config", str(exc)) from exc


def _check_run_options(kind: str, config: dict) -> None:
    processes = config.get("processes", 1)
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise JobError("processes", f"expected a whole number >= 1, got {processes!r}")
    if processes > 1 and kind == "generate":
        raise JobError("processes", "a generation job runs in one process")
    if processes > max_processes():
        raise JobError(
            "processes",
            f"{processes} asked, this host runs at most {max_processes()} (PREFLAB_MAX_PROCESSES)",
        )
    accelerate_config = config.get("accelerate_config")
    if accelerate_config is not None:
        if not isinstance(accelerate_config, str) or not Path(accelerate_config).is_file():
            raise JobError("accelerate_config", f"no file {accelerate_config!r} on this host")


def _check_checkpoint(checkpoint: Checkpoint, field: str, kinds, what: str) -> None:
    if checkpoint.kind not in kinds:
        raise JobError(
            field,
            f"checkpoint {checkpoint.pk} is a {checkpoint.kind} checkpoint; "
            f"{what} needs one of: {', '.join(kinds)}",
        )
    # base models may be hub ids or built-in names; every other checkpoint is a folder we wrote
    if checkpoint.kind != Checkpoint.Kind.BASE and not Path(checkpoint.path).is_dir():
        raise JobError(field, f"checkpoint {checkpoint.pk}'s folder {checkpoint.path} is missing")


def create_job(
    project,
    kind: str,
    config: dict | None = None,
    *,
    base: Checkpoint | None = None,
    reward: Checkpoint | None = None,
    snapshot=None,
    snapshot_options: dict | None = None,
    user=None,
    enqueue: bool = True,
) -> TrainingJob:
    """Validate, freeze the training data, save the job and enqueue it after commit."""
    from training import snapshots

    if kind not in KINDS:
        raise JobError("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(config, dict | None):
        raise JobError("config", "must be a JSON object")
    config = dict(config or {})
    _check_run_options(kind, config)
    if base is not None:
        _check_checkpoint(base, "base_checkpoint", BASE_KINDS[kind], f"a {kind} job")
    if kind == "ppo":
        if reward is None:
            raise JobError("reward_checkpoint", "a PPO job needs a reward-model checkpoint")
        _check_checkpoint(reward, "reward_checkpoint", ("rm",), "a PPO job's reward model")
        config["reward_model"] = reward.path
    elif reward is not None:
        raise JobError("reward_checkpoint", f"only PPO jobs take a reward model, not {kind}")
    if snapshot is not None and snapshot.project_id != project.pk:
        raise JobError("snapshot", "belongs to another project")
    with transaction.atomic():
        if snapshot is None and kind in SNAPSHOT_KIND:
            snapshot = snapshots.create_snapshot(
                project, SNAPSHOT_KIND[kind], snapshot_options, created_by=user
            )
            if snapshot.n_rows == 0:
                raise JobError("snapshot", f"the project has no {SNAPSHOT_KIND[kind]} to train on")
        job = TrainingJob.objects.create(
            project=project,
            kind=kind,
            config=config,
            snapshot=snapshot,
            base_checkpoint=base or base_checkpoint(),
            created_by=user,
        )
        engine_config(job)  # raises JobError naming the bad key: the row is rolled back
        job.resume_path = str(job_dir(job) / "model" / "state")
        job.save(update_fields=["resume_path"])
        if enqueue:
            transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


def enqueue_job(job_id: int) -> None:
    from . import tasks

    job = TrainingJob.objects.only("kind").get(pk=job_id)
    task = tasks.run_generation_job if job.kind == "generate" else tasks.run_training_job
    task.delay(job_id)


def run_job(job_id: int, worker: str = "") -> TrainingJob:
    """Claim and run one job to its end; the outcome is recorded on the row.

    ``worker`` is ``lifecycle.worker_id(...)``: the worker's name and this process's pid.
    """
    worker = worker or lifecycle.worker_id()
    if not lifecycle.claim(job_id, worker):
        job = TrainingJob.objects.get(pk=job_id)
        name = worker.rpartition(":")[0]
        if lifecycle.lost_by_this_worker(job, name):
            # a pool process of this worker died with it (SIGKILL, out of memory) and the
            # broker handed the message back: the job goes back to the queue
            lifecycle.requeue_lost(job, f"the process {job.worker} running it died")
        else:
            log.info("job %s is %s (%s): not run here", job_id, job.status, job.worker)
        return TrainingJob.objects.get(pk=job_id)
    job = TrainingJob.objects.select_related("project", "snapshot", "base_checkpoint").get(
        pk=job_id
    )
    try:
        config = engine_config(job)
        result = execute(job, worker, config, INPUTS[job.kind](job))
    except JobStopped:
        pass  # cancelled (or requeued elsewhere): the state says so already
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-4000:]}"
        lifecycle.fail(job.pk, worker, error)
    else:
        lifecycle.succeed(job, worker, lambda: OUTPUTS[job.kind](job, config, result))
    return TrainingJob.objects.get(pk=job_id)


# --- what each kind reads ------------------------------------------------------------------


def _snapshot_split(job, split: str) -> list[dict]:
    from training.snapshots import snapshot_rows

    return [row for row in snapshot_rows(job.snapshot) if row.get("split") == split]


def _prompts(job) -> list[Prompt]:
    query = Prompt.objects.filter(project=job.project).order_by("id")
    if job.config.get("prompt_ids"):
        query = query.filter(pk__in=job.config["prompt_ids"])
    else:
        query = query.filter(split=job.config.get("split", "train"))
    if job.config.get("max_prompts"):
        query = query[: int(job.config["max_prompts"])]
    return list(query)


def sft_inputs(job) -> dict:
    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no demonstrations in the train split")
    return {"train_rows": train, "eval_rows": validation or None}


def reward_inputs(job) -> dict:
    from labeling.outputs.exports import export_rows

    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no rankings in the train split")
    demonstrations = list(export_rows("demonstrations", job.project, {"split": "train"}))
    return {
        "train_rows": train,
        "eval_rows": validation or None,
        "demonstrations": demonstrations or None,
    }


def prompt_inputs(job) -> dict:
    prompts = [p.as_export() for p in _prompts(job)]
    if not prompts:
        raise JobError("prompts", "the project has no prompts in that split")
    return {"prompts": prompts}


INPUTS = {"sft": sft_inputs, "rm": reward_inputs, "ppo": prompt_inputs, "generate": prompt_inputs}


# --- what each kind registers (inside the transaction that marks it succeeded) ---------------


def register_checkpoint(job, config, result) -> Checkpoint:
    return Checkpoint.objects.create(
        name=f"{job.project.slug}-{job.kind}-job{job.pk}",
        kind=OUTPUT_KIND[job.kind],
        path=result["output_dir"],
        parent=job.base_checkpoint,
        snapshot=job.snapshot,
        metrics=_final_metrics(result),
    )


def register_generated(job, config, rows) -> None:
    """The sampled responses, and a ranking task per prompt with K of them."""
    from labeling.intake.responses import get_or_create_response

    prompts = _prompts(job)
    by_prompt: dict[int, list[Response]] = {p.pk: [] for p in prompts}
    for prompt, index in zip(prompts, range(0, len(rows), config.k), strict=True):
        for row in rows[index : index + config.k]:
            response = get_or_create_response(
                prompt,
                row["response"] or "(empty response)",
                model_name=row["model"],
                origin=Response.Origin.CHECKPOINT,
            )
            if response.checkpoint_id is None and job.base_checkpoint_id:
                response.checkpoint_id = job.base_checkpoint_id
                response.save(update_fields=["checkpoint_id"])
            if response not in by_prompt[prompt.pk]:
                by_prompt[prompt.pk].append(response)
    if job.config.get("create_tasks", True):
        project = job.project
        for prompt in prompts:
            responses = by_prompt[prompt.pk]
            if project.k_min <= len(responses) <= project.k_max:
                create_ranking_task(project, prompt, responses)
    return None


OUTPUTS = {
    "sft": register_checkpoint,
    "rm": register_checkpoint,
    "ppo": register_checkpoint,
    "generate": register_generated,
}


def _final_metrics(result: dict) -> dict:
    metrics = result.get("metrics", result)
    return {k: v for k, v in metrics.items() if is_number(v)}
