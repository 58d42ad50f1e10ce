"""Training jobs: create (config validated against the engine), claim, run, cancel, requeue.

The Celery tasks in ``tasks.py`` only call ``run_job``; everything here runs the same in a
test, a management command or a worker. A job is enqueued with ``transaction.on_commit``
(no task for a rolled-back row) and claimed with a conditional UPDATE (no job runs twice
at once). The engine writes resumable state under the job's output folder, so a requeued
job continues where it stopped.
"""

import importlib
import logging
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.models import Prompt, Response
from labeling.ranking_tasks import create_ranking_task

from .models import Checkpoint, TrainingJob

log = logging.getLogger(__name__)

# kind -> (engine module, config class, entry point)
ENGINE = {
    "sft": ("training.engine.sft", "SFTConfig", "train_sft"),
    "rm": ("training.engine.reward", "RewardConfig", "train_reward"),
    "ppo": ("training.engine.ppo", "PPOConfig", "train_ppo"),
    "generate": ("training.engine.generate", "GenerateConfig", "generate_responses"),
}
# The export frozen for a job's training data (PPO and generation read prompts).
SNAPSHOT_KIND = {"sft": "demonstrations", "rm": "rankings"}
OUTPUT_KIND = {"sft": "sft", "rm": "rm", "ppo": "policy"}
# Keys of a job's config that choose its data rather than configure the engine.
JOB_KEYS = {"split", "max_prompts", "prompt_ids", "create_tasks"}
# Keys the platform fills from checkpoints and the job folder.
MODEL_KEY = {"sft": "model", "rm": "model", "ppo": "policy", "generate": "model"}
PROGRESS_EVERY_S = 1.0
LOG_TAIL_CHARS = 8000


class JobError(ValueError):
    pass


class JobCancelled(Exception):
    pass


def engine_config_class(kind: str):
    module, cls, _ = ENGINE[kind]
    return getattr(importlib.import_module(module), cls)


def engine_entry(kind: str):
    module, _, entry = ENGINE[kind]
    return getattr(importlib.import_module(module), entry)


def job_dir(job) -> Path:
    return Path(settings.PREFLAB_ARTIFACTS_DIR) / "jobs" / str(job.pk)


def base_checkpoint(name: str | None = None) -> Checkpoint:
    """The base model as a checkpoint row (resolved to a folder by the engine when used)."""
    name = name or settings.PREFLAB_BASE_MODEL
    checkpoint, _ = Checkpoint.objects.get_or_create(
        kind=Checkpoint.Kind.BASE, name=name, defaults={"path": name}
    )
    return checkpoint


def engine_config(job):
    """The engine's config dataclass for a job: its JSON plus the platform's paths."""
    from training.engine.config import config_from_dict

    data = {k: v for k, v in job.config.items() if k not in JOB_KEYS}
    if job.base_checkpoint_id:
        data[MODEL_KEY[job.kind]] = job.base_checkpoint.path
    if job.kind != "generate":
        data["output_dir"] = str(job_dir(job) / "model")
    try:
        return config_from_dict(engine_config_class(job.kind), data)
    except (TypeError, ValueError) as exc:
        raise JobError(f"config: {exc}") from exc


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

    if kind not in ENGINE:
        raise JobError(f"kind: {kind!r} is not one of {sorted(ENGINE)}")
    config = dict(config or {})
    if kind == "ppo":
        if reward is None or reward.kind != Checkpoint.Kind.REWARD:
            raise JobError("reward: a PPO job needs a reward-model checkpoint")
        config["reward_model"] = reward.path
    if kind == "rm" and base is not None and base.kind not in ("sft", "base"):
        raise JobError("base: a reward model starts from an SFT or base checkpoint")
    with transaction.atomic():
        if snapshot is None and kind in SNAPSHOT_KIND:
            snapshot = snapshots.create_snapshot(
                project, SNAPSHOT_KIND[kind], snapshot_options, created_by=user
            )
            if snapshot.n_rows == 0:
                raise JobError(f"snapshot: the project has no {SNAPSHOT_KIND[kind]} to train on")
        job = TrainingJob.objects.create(
            project=project,
            kind=kind,
            config=config,
            snapshot=snapshot,
            base_checkpoint=base or base_checkpoint(),
            created_by=user,
        )
        engine_config(job)  # raises JobError naming the bad key: the row is rolled back
        if enqueue:
            transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


def enqueue_job(job_id: int) -> None:
    from . import tasks

    job = TrainingJob.objects.only("kind").get(pk=job_id)
    task = tasks.run_generation_job if job.kind == "generate" else tasks.run_training_job
    task.delay(job_id)


def claim(job_id: int, worker: str = "") -> bool:
    """queued → running, atomically; False when another worker has it or it was cancelled."""
    return (
        TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
            status=TrainingJob.Status.RUNNING, worker=worker, started_at=timezone.now(), error=""
        )
        == 1
    )


def cancel_job(job) -> bool:
    active = [TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]
    return (
        TrainingJob.objects.filter(pk=job.pk, status__in=active).update(
            status=TrainingJob.Status.CANCELLED, finished_at=timezone.now()
        )
        == 1
    )


def requeue_job(job) -> bool:
    """A failed, cancelled or orphaned running job goes back to the queue; it resumes."""
    stopped = [TrainingJob.Status.RUNNING, TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED]
    with transaction.atomic():
        moved = TrainingJob.objects.filter(pk=job.pk, status__in=stopped).update(
            status=TrainingJob.Status.QUEUED, finished_at=None, worker=""
        )
        if moved:
            transaction.on_commit(lambda: enqueue_job(job.pk))
    return moved == 1


class ProgressRecorder:
    """The engine's callback: progress, metric series and log tail, saved at most once a second.

    It also notices a cancellation made meanwhile and stops the engine by raising.
    """

    def __init__(self, job):
        self.job = job
        self.pending = []
        self.last_save = 0.0

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        row = {"step": step, **{k: v for k, v in metrics.items() if _is_number(v)}}
        self.pending.append(row)
        if step >= total or time.monotonic() - self.last_save >= PROGRESS_EVERY_S:
            self.flush(step / total if total else 0.0)

    def flush(self, progress: float | None = None) -> None:
        job = self.job
        status = TrainingJob.objects.values_list("status", flat=True).get(pk=job.pk)
        if status == TrainingJob.Status.CANCELLED:
            raise JobCancelled()
        job.metrics = list(job.metrics) + self.pending
        lines = [" ".join(f"{k}={_fmt(v)}" for k, v in row.items()) for row in self.pending]
        job.log_tail = (job.log_tail + "".join(line + "\n" for line in lines))[-LOG_TAIL_CHARS:]
        if progress is not None:
            job.progress = min(max(progress, 0.0), 1.0)
        TrainingJob.objects.filter(pk=job.pk).update(
            metrics=job.metrics, log_tail=job.log_tail, progress=job.progress
        )
        self.pending = []
        self.last_save = time.monotonic()


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_job(job_id: int, worker: str = "") -> TrainingJob:
    """Claim and run one job to its end; the outcome is recorded on the row."""
    if not claim(job_id, worker):
        log.info("job %s was not queued (taken, finished or cancelled): skipped", job_id)
        return TrainingJob.objects.get(pk=job_id)
    job = TrainingJob.objects.select_related("project", "snapshot", "base_checkpoint").get(
        pk=job_id
    )
    recorder = ProgressRecorder(job)
    try:
        config = engine_config(job)
        result = RUNNERS[job.kind](job, config, recorder)
    except JobCancelled:
        log.info("job %s cancelled", job_id)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        TrainingJob.objects.filter(pk=job_id).update(
            status=TrainingJob.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()[-4000:]}",
            finished_at=timezone.now(),
        )
    else:
        with transaction.atomic():
            output = None
            if job.kind in OUTPUT_KIND:
                output = Checkpoint.objects.create(
                    name=f"{job.project.slug}-{job.kind}-job{job.pk}",
                    kind=OUTPUT_KIND[job.kind],
                    path=result["output_dir"],
                    parent=job.base_checkpoint,
                    snapshot=job.snapshot,
                    metrics=_final_metrics(result),
                )
            TrainingJob.objects.filter(pk=job_id).update(
                status=TrainingJob.Status.SUCCEEDED,
                progress=1.0,
                output_checkpoint=output,
                finished_at=timezone.now(),
            )
    return TrainingJob.objects.get(pk=job_id)


def _final_metrics(result: dict) -> dict:
    metrics = result.get("metrics", result)
    return {k: v for k, v in metrics.items() if _is_number(v)}


# --- what each kind reads and writes -------------------------------------------------------


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


def run_sft(job, config, callback):
    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot: no demonstrations in the train split")
    return engine_entry("sft")(config, train, validation or None, callback=callback)


def run_reward(job, config, callback):
    from labeling.exports import ROW_GENERATORS

    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot: no rankings in the train split")
    demonstrations = list(ROW_GENERATORS["demonstrations"](job.project, split="train"))
    return engine_entry("rm")(
        config, train, validation or None, demonstrations or None, callback=callback
    )


def run_ppo(job, config, callback):
    prompts = [p.as_export() for p in _prompts(job)]
    if not prompts:
        raise JobError("prompts: the project has no prompts in that split")
    return engine_entry("ppo")(config, prompts, callback=callback)


def run_generate(job, config, callback):
    """Sample K responses per prompt from the checkpoint and turn them into ranking tasks."""
    prompts = _prompts(job)
    if not prompts:
        raise JobError("prompts: the project has no prompts in that split")
    rows = engine_entry("generate")(config, [p.as_export() for p in prompts], callback=callback)
    by_prompt: dict[int, list[Response]] = {p.pk: [] for p in prompts}
    with transaction.atomic():
        for prompt, index in zip(prompts, range(0, len(rows), config.k), strict=True):
            for row in rows[index : index + config.k]:
                from labeling.importers import get_or_create_response

                response = get_or_create_response(
                    prompt,
                    row["response"] or "(empty response)",
                    model_name=row["model"],
                    origin=Response.Origin.CHECKPOINT,
                )
                if response.checkpoint_id is None and job.base_checkpoint_id:
                    response.checkpoint_id = job.base_checkpoint_id
                    response.save(update_fields=["checkpoint"])
                if response not in by_prompt[prompt.pk]:
                    by_prompt[prompt.pk].append(response)
        created = 0
        if job.config.get("create_tasks", True):
            project = job.project
            for prompt in prompts:
                responses = by_prompt[prompt.pk]
                if project.k_min <= len(responses) <= project.k_max:
                    create_ranking_task(project, prompt, responses)
                    created += 1
    return {"responses": len(rows), "tasks_created": created}


RUNNERS = {"sft": run_sft, "rm": run_reward, "ppo": run_ppo, "generate": run_generate}
