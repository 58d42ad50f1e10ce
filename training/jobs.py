"""Training jobs: create (everything validated before a row exists) and run. What each kind
reads is in ``job_inputs``, what it registers when it succeeds in ``job_outputs``.

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
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.errors import ServiceError

from . import lifecycle
from .models import Checkpoint, TrainingJob

# is_number: pipelines and reports read it from here
from .runner import JobStopped, execute, is_number  # noqa: F401

log = logging.getLogger(__name__)

KINDS = ("sft", "rm", "ppo", "dpo", "generate", "evaluate", "best_of_n")
# The export frozen for a job's data when it is created: what it trains on, or (PPO and
# generation) the prompts it samples from. A job reads only its snapshots, never the live
# tables, so re-running it from its record reads the same inputs.
SNAPSHOT_KIND = {"sft": "demonstrations", "rm": "rankings", "ppo": "prompts", "generate": "prompts"}
# an evaluation answers prompts too (the validation split, as the pipelines ask for)
SNAPSHOT_KIND["evaluate"] = "prompts"
# DPO learns from rankings as the RM does; best-of-n samples prompts as generation does
SNAPSHOT_KIND |= {"dpo": "rankings", "best_of_n": "prompts"}
# The demonstrations an RM normalises its reward on (mean 0 on their completions).
RM_DEMONSTRATIONS = {"split": "train"}
OUTPUT_KIND = {"sft": "sft", "rm": "rm", "ppo": "policy", "dpo": "policy"}
# The checkpoint kinds each job kind may start from.
BASE_KINDS = {
    "sft": ("base", "sft", "policy"),
    "rm": ("base", "sft"),
    "ppo": ("base", "sft", "policy"),
    "generate": ("base", "sft", "policy"),
    # a policy is compared with the checkpoint it started from, so it must have one
    "evaluate": ("sft", "policy"),
    # DPO's starting policy is also its frozen reference (an SFT model, as PPO's)
    "dpo": ("base", "sft", "policy"),
    "best_of_n": ("base", "sft", "policy"),
}
# Keys of a job's config that choose its data or how it runs, not the engine's settings.
# (split, max_prompts, prompt_ids: the prompts frozen for PPO and generation, see
# _prompt_snapshot_options)
JOB_KEYS = {
    "split", "max_prompts", "prompt_ids", "create_tasks", "processes", "accelerate_config",
    "second_reward_checkpoint", "gold_reward_checkpoint", "baseline_checkpoint",
}  # fmt: skip
# Keys the platform fills from checkpoints and the job folder.
MODEL_KEY = {"sft": "model", "rm": "model", "ppo": "policy", "generate": "model"}
MODEL_KEY |= {"evaluate": "policy", "dpo": "model", "best_of_n": "model"}
# The kinds judged by a reward model: PPO trains against it, an evaluation scores with it,
# best-of-n keeps the sample it scores highest.
REWARD_KINDS = {"ppo": "a PPO job", "evaluate": "an evaluate job", "best_of_n": "a best-of-n job"}
# The kinds whose engine runs in one process (no `accelerate launch`).
ONE_PROCESS = {
    "generate": "a generation job",
    "evaluate": "an evaluation",
    "dpo": "DPO",
    "best_of_n": "best-of-n",
}
# A generate job that chooses its prompts by a reward model's sureness (engine/selection.py).
RM_SELECTIONS = ("rm_spread", "rm_disagreement")


def _needs_reward(kind: str, config: dict) -> str | None:
    """What needs a reward model, named for a refusal; None when the job takes none."""
    if kind in REWARD_KINDS:
        return REWARD_KINDS[kind]
    if kind == "generate" and config.get("selection") in RM_SELECTIONS:
        return f"a generate job with selection {config['selection']}"
    return None


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
    if processes > 1 and kind in ONE_PROCESS:
        raise JobError("processes", f"{ONE_PROCESS[kind]} runs in one process")
    if processes > max_processes():
        raise JobError(
            "processes",
            f"{processes} asked, this host runs at most {max_processes()} (PREFLAB_MAX_PROCESSES)",
        )
    accelerate_config = config.get("accelerate_config")
    if accelerate_config is not None:
        if not isinstance(accelerate_config, str) or not Path(accelerate_config).is_file():
            raise JobError("accelerate_config", f"no file {accelerate_config!r} on this host")


def _second_reward_model(kind: str, config: dict) -> None:
    """rm_disagreement compares the job's reward model with a second one, named by its
    checkpoint id in ``second_reward_checkpoint``; the engine gets its folder. PPO's
    reward-hacking watch likewise takes a gold RM as ``gold_reward_checkpoint``."""
    disagreement = kind == "generate" and config.get("selection") == "rm_disagreement"
    _extra_reward_model(
        config, "second_reward", disagreement, "only rm_disagreement selection takes it"
    )
    _extra_reward_model(config, "gold_reward", kind == "ppo", "only PPO jobs take a gold RM")


def _extra_reward_model(config: dict, name: str, wanted: bool, refusal: str) -> None:
    """``<name>_checkpoint`` (an rm checkpoint id) → the engine's ``<name>_model`` folder."""
    field = f"{name}_checkpoint"
    config.pop(f"{name}_model", None)  # the platform's to fill
    pk = config.get(field)
    if pk is None:
        if wanted and name == "second_reward":
            raise JobError(field, "rm_disagreement needs a checkpoint id")
        return
    if not wanted:
        raise JobError(field, refusal)
    if isinstance(pk, bool) or not isinstance(pk, int):
        raise JobError(field, "a checkpoint id")
    checkpoint = Checkpoint.objects.filter(pk=pk).first()
    if checkpoint is None:
        raise JobError(field, f"no checkpoint {pk}")
    _check_checkpoint(checkpoint, field, ("rm",), f"the {name.replace('_', ' ')} model")
    config[f"{name}_model"] = checkpoint.path


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
    corpus=None,
    demonstrations_snapshot=None,
    user=None,
    enqueue: bool = True,
    rerun_of: TrainingJob | None = None,
) -> TrainingJob:
    """Validate, freeze the data, save the job and enqueue it after commit.

    ``corpus``: PPO-ptx's pretraining corpus (config ``ptx_coef`` > 0). ``snapshot`` and
    ``demonstrations_snapshot`` reuse frozen data instead of freezing it now (a re-run).
    """
    from training import snapshots

    if kind not in KINDS:
        raise JobError("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(config, dict | None):
        raise JobError("config", "must be a JSON object")
    config = dict(config or {})
    _check_run_options(kind, config)
    if base is not None:
        _check_checkpoint(base, "base_checkpoint", BASE_KINDS[kind], f"a {kind} job")
    needs_reward = _needs_reward(kind, config)
    if needs_reward:
        if reward is None:
            raise JobError("reward_checkpoint", f"{needs_reward} needs a reward-model checkpoint")
        _check_checkpoint(reward, "reward_checkpoint", ("rm",), f"{needs_reward}'s reward model")
        config["reward_model"] = reward.path
    elif reward is not None:
        raise JobError(
            "reward_checkpoint",
            "only PPO, evaluate, best-of-n and actively selecting generate jobs take a reward "
            f"model, not this {kind} job",
        )
    _second_reward_model(kind, config)
    if kind == "evaluate":
        _evaluation_parent(base, config)
    if kind == "best_of_n":
        # its kept answers are a model of their own, named after the policy (the checkpoint's
        # name, not its folder), as an evaluation campaign names an imported contestant
        if not config.get("model_name"):
            policy = (base or base_checkpoint()).name
            config["model_name"] = f"best-of-{config.get('n', 8)}({policy})"
    _check_ptx(project, kind, config, corpus)
    for field, frozen in (
        ("snapshot", snapshot),
        ("demonstrations_snapshot", demonstrations_snapshot),
    ):
        if frozen is not None and frozen.project_id != project.pk:
            raise JobError(field, "belongs to another project")
    if snapshot is not None and kind in SNAPSHOT_KIND and snapshot.kind != SNAPSHOT_KIND[kind]:
        raise JobError(
            "snapshot", f"a {kind} job reads a {SNAPSHOT_KIND[kind]} snapshot, not {snapshot.kind}"
        )
    if demonstrations_snapshot is not None and (
        kind != "rm" or demonstrations_snapshot.kind != "demonstrations"
    ):
        raise JobError("demonstrations_snapshot", "only RM jobs take one, of demonstrations")
    with transaction.atomic():
        if snapshot is None and kind in SNAPSHOT_KIND:
            if SNAPSHOT_KIND[kind] == "prompts":
                snapshot_options = _prompt_snapshot_options(config, snapshot_options)
            snapshot = snapshots.create_snapshot(
                project, SNAPSHOT_KIND[kind], snapshot_options, created_by=user
            )
            if snapshot.n_rows == 0:
                if SNAPSHOT_KIND[kind] == "prompts":
                    raise JobError("prompts", "the project has no prompts in that selection")
                raise JobError("snapshot", f"the project has no {SNAPSHOT_KIND[kind]} to train on")
        if kind == "rm" and demonstrations_snapshot is None:
            # frozen even when empty: "no demonstrations" is then part of the record too
            demonstrations_snapshot = snapshots.create_snapshot(
                project, "demonstrations", RM_DEMONSTRATIONS, created_by=user
            )
        job = TrainingJob.objects.create(
            project=project,
            kind=kind,
            config=config,
            snapshot=snapshot,
            demonstrations_snapshot=demonstrations_snapshot,
            pretrain_corpus=corpus,
            base_checkpoint=base or base_checkpoint(),
            created_by=user,
            rerun_of=rerun_of,
            # a job the caller runs itself (--run-here) is never the outbox's to send
            sent_at=None if enqueue else timezone.now(),
        )
        engine_config(job)  # raises JobError naming the bad key: the row is rolled back
        job.resume_path = str(job_dir(job) / "model" / "state")
        job.save(update_fields=["resume_path"])
        if enqueue:
            transaction.on_commit(lambda: enqueue_job(job.pk))
    return job


def _evaluation_parent(base: Checkpoint | None, config: dict) -> None:
    """An evaluate job compares its policy with a baseline: the checkpoint the policy started
    from (its ``parent``), or the one named by ``baseline_checkpoint`` (a pipeline compares
    each round's policy with the previous round's). Recorded in the config as a folder, as
    PPO's reward model is."""
    if base is None:
        raise JobError("base_checkpoint", "an evaluate job needs the policy to evaluate")
    pk = config.get("baseline_checkpoint")
    if pk is None:
        baseline = base.parent
        if baseline is None:
            raise JobError("base_checkpoint", f"checkpoint {base.pk} has no parent to compare with")
    else:
        if isinstance(pk, bool) or not isinstance(pk, int):
            raise JobError("baseline_checkpoint", "a checkpoint id")
        baseline = Checkpoint.objects.filter(pk=pk).first()
        if baseline is None:
            raise JobError("baseline_checkpoint", f"no checkpoint {pk}")
    field = "base_checkpoint" if pk is None else "baseline_checkpoint"
    _check_checkpoint(baseline, field, ("base", "sft", "policy"), "the baseline")
    config["parent_model"] = baseline.path


def _prompt_snapshot_options(config: dict, given) -> dict:
    """The prompts snapshot of a PPO or generation job: the job's ``split`` (default train),
    ``max_prompts`` and ``prompt_ids``, under any export options given explicitly."""
    if given is not None and not isinstance(given, Mapping):
        return given  # a PromptExportOptions instance: exactly what to freeze
    derived = {"limit": config.get("max_prompts"), "prompt_ids": config.get("prompt_ids")}
    if not config.get("prompt_ids"):  # chosen ids are taken whatever their split
        derived["split"] = config.get("split", "train")
    given = {k: v for k, v in (given or {}).items() if v is not None}
    return {k: v for k, v in derived.items() if v is not None} | given


def _check_ptx(project, kind: str, config: dict, corpus) -> None:
    """PPO-ptx: ``ptx_coef`` (γ) > 0 mixes the corpus's LM loss in. The platform's default
    is 0 (off), unlike the engine's 27.8 (InstructGPT's γ), so a job that names no corpus
    is plain PPO and its record says so."""
    if kind != "ppo":
        if corpus is not None:
            raise JobError(
                "pretrain_corpus", f"only PPO jobs take a pretraining corpus, not {kind}"
            )
        return
    coef = config.setdefault("ptx_coef", 0.0)
    if isinstance(coef, bool) or not isinstance(coef, int | float) or coef < 0:
        raise JobError("ptx_coef", f"expected a number >= 0, got {coef!r}")
    if coef > 0 and corpus is None:
        raise JobError("pretrain_corpus", f"ptx_coef {coef:g} needs a pretraining corpus")
    if coef == 0 and corpus is not None:
        raise JobError("pretrain_corpus", "set ptx_coef > 0 to use a pretraining corpus")
    if corpus is not None and corpus.project_id != project.pk:
        raise JobError("pretrain_corpus", "belongs to another project")


def rerun_job(job: TrainingJob, *, user=None, enqueue: bool = True) -> TrainingJob:
    """A new job with the record of ``job``: its kind, config, checkpoints, frozen snapshots
    and corpus. Nothing is read from the live tables, so it gets the inputs ``job`` got,
    whatever was labeled since (its own state starts afresh: a new folder, step 0)."""
    if job.kind not in KINDS:
        raise JobError("kind", f"{job.kind} jobs cannot be re-run here")
    if job.kind in SNAPSHOT_KIND and job.snapshot is None:
        raise JobError("snapshot", f"job {job.pk} froze no snapshot (made before snapshots were)")
    if job.kind == "rm" and job.demonstrations_snapshot is None:
        raise JobError(
            "demonstrations_snapshot",
            f"job {job.pk} froze no demonstrations (made before they were frozen)",
        )
    if enqueue:
        from . import dispatch

        dispatch.require_broker()  # BrokerUnavailable (503): nothing is created
    config = dict(job.config)
    reward = None
    if _needs_reward(job.kind, config):
        # the reward model is recorded as its folder; the checkpoint is found back by it
        reward = Checkpoint.objects.filter(kind="rm", path=config.pop("reward_model", None))
        reward = reward.order_by("id").first()
        if reward is None:
            raise JobError("reward_checkpoint", f"job {job.pk}'s reward model is gone")
    return create_job(
        job.project,
        job.kind,
        config,
        base=job.base_checkpoint,
        reward=reward,
        snapshot=job.snapshot,
        corpus=job.pretrain_corpus,
        demonstrations_snapshot=job.demonstrations_snapshot,
        user=user,
        enqueue=enqueue,
        rerun_of=job,
    )


def enqueue_job(job_id: int) -> None:
    """Send the job's message (after commit). A broker that is down leaves the job queued
    and unsent, sent later by ``dispatch.send_unsent``: the committed job is never lost."""
    from . import dispatch

    dispatch.send(job_id)


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
    from .job_inputs import INPUTS
    from .job_outputs import OUTPUTS

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
