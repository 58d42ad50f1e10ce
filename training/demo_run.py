"""The demo's finished training run: SFT → RM → PPO → an RM-judged evaluation, on the tiny
model, run in this process while ``seed_demo`` seeds (seconds on a laptop CPU).

So the jobs page, its curves, the models page's lineage and an evaluation are there to look at
from the first start, before anyone trains anything. The jobs are ordinary jobs made by
``jobs.create_job`` and run by ``jobs.run_job``, only not enqueued: nothing waits on a worker
or a broker.

Why not a pipeline: a "retrain" pipeline ends with a generate stage, and the tiny model's
random weights write gibberish that would land in the labelers' queue as ranking tasks; and the
pipeline service always enqueues its jobs on the broker. The same four jobs run directly.

The tiny model is built under ``PREFLAB_ARTIFACTS_DIR/models/tiny`` and registered as the
base checkpoint ``tiny (demo)``. Idempotent: a job whose run already succeeded (found by its
kind and starting checkpoint) is not run again.
"""

import time
from pathlib import Path

from django.conf import settings

from training import jobs
from training.models import Checkpoint, TrainingJob

TINY_NAME = "tiny (demo)"

# Every job small: the four of them take well under a minute on 2 CPU cores. The values are
# the pipeline tests' tiny stages (tests/pipeline_world.py), with smaller batches: the
# demo has a handful of demonstrations and a few dozen rankings, and each step draws a point.
DEMO_CONFIGS = {
    "sft": {"epochs": 8, "batch_size": 4, "max_length": 48, "learning_rate": 1e-2,
            "warmup_ratio": 0.05},
    "rm": {"lr": 1e-3, "warmup_steps": 3, "rankings_per_batch": 4, "max_length": 64,
           "epochs": 2},
    "ppo": {"steps": 6, "rollouts_per_step": 8, "mini_batch_size": 4, "ppo_epochs": 2,
            "response_length": 8, "lr": 5e-4, "kl_coef": 0.1, "max_prompt_length": 32},
    "evaluate": {"max_new_tokens": 8, "batch_size": 16, "temperature": 1.0, "top_p": 1.0,
                 "samples_per_prompt": 2, "split": "validation"},
}  # fmt: skip


def tiny_checkpoint() -> Checkpoint:
    """The tiny model as a base checkpoint, built under the artifacts folder if missing."""
    from training.engine.tiny import tiny_model_dir

    folder = str(tiny_model_dir(Path(settings.PREFLAB_ARTIFACTS_DIR) / "models" / "tiny"))
    checkpoint, created = Checkpoint.objects.get_or_create(
        kind=Checkpoint.Kind.BASE, name=TINY_NAME, defaults={"path": folder}
    )
    if not created and checkpoint.path != folder:  # the artifacts folder moved
        checkpoint.path = folder
        checkpoint.save(update_fields=["path"])
    return checkpoint


def _succeeded(project, kind: str, base: Checkpoint) -> TrainingJob | None:
    """The demo's own earlier job: the first that succeeded from ``base``, outside any
    pipeline (a pipeline started on the tiny model from the web has jobs of the same kind
    and base, which are not the demo's)."""
    return (
        TrainingJob.objects.filter(
            project=project,
            kind=kind,
            base_checkpoint=base,
            status=TrainingJob.Status.SUCCEEDED,
            pipeline_stages__isnull=True,
        )
        .order_by("pk")
        .first()
    )


def _run(project, kind, base, reward=None, *, ran: list, extra=None) -> TrainingJob:
    job = _succeeded(project, kind, base)
    if job is not None:
        return job
    ran.append(kind)
    job = jobs.create_job(
        project, kind, DEMO_CONFIGS[kind] | (extra or {}), base=base, reward=reward, enqueue=False
    )
    job = jobs.run_job(job.pk)  # here, as this process: no worker, no broker
    if job.status != TrainingJob.Status.SUCCEEDED:
        reason = (job.error.strip().splitlines() or ["no reason recorded"])[0]
        raise jobs.JobError(kind, f"the demo's {kind} job {job.pk} {job.status}: {reason}")
    return job


def run_demo_training(project) -> dict:
    """SFT from the tiny model, an RM and a PPO policy from the SFT model, and the policy
    judged against SFT by the RM; returns {kind: job, "ran": the kinds run now, "seconds":
    how long that took}."""
    started = time.monotonic()
    ran = []
    tiny = tiny_checkpoint()
    sft = _run(project, "sft", tiny, ran=ran)
    rm = _run(project, "rm", sft.output_checkpoint, ran=ran)
    ppo = _run(project, "ppo", sft.output_checkpoint, rm.output_checkpoint, ran=ran)
    # named, as a pipeline names it, so the lineage draws the comparison's baseline
    baseline = {"baseline_checkpoint": sft.output_checkpoint_id}
    evaluate = _run(
        project, "evaluate", ppo.output_checkpoint, rm.output_checkpoint, ran=ran, extra=baseline
    )
    return {
        "sft": sft,
        "rm": rm,
        "ppo": ppo,
        "evaluate": evaluate,
        "ran": ran,
        "seconds": time.monotonic() - started,
    }
