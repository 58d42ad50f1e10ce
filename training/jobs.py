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
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.db import transaction

from labeling.errors import ServiceError
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.models import Prompt, Response

from . import lifecycle
from .models import Checkpoint, TrainingJob
from .runner import JobStopped, execute, is_number
from .signals import responses_generated

log = logging.getLogger(__name__)

KINDS = ("sft", "rm", "ppo", "generate", "evaluate")
# The export frozen for a job's data when it is created: what it trains on, or (PPO and
# generation) the prompts it samples from. A job reads only its snapshots, never the live
# tables, so re-running it from its record reads the same inputs.
SNAPSHOT_KIND = {"sft": "demonstrations", "rm": "rankings", "ppo": "prompts", "generate": "prompts"}
# an evaluation answers prompts too (the validation split, as the pipelines ask for)
SNAPSHOT_KIND["evaluate"] = "prompts"
# The demonstrations an RM normalises its reward on (mean 0 on their completions).
RM_DEMONSTRATIONS = {"split": "train"}
OUTPUT_KIND = {"sft": "sft", "rm": "rm", "ppo": "policy"}
# The checkpoint kinds each job kind may start from.
BASE_KINDS = {
    "sft": ("base", "sft", "policy"),
    "rm": ("base", "sft"),
    "ppo": ("base", "sft", "policy"),
    "generate": ("base", "sft", "policy"),
    # a policy is compared with the checkpoint it started from, so it must have one
    "evaluate": ("sft", "policy"),
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
MODEL_KEY["evaluate"] = "policy"
# The kinds judged by a reward model: PPO trains against it, an evaluation scores with it.
REWARD_KINDS = {"ppo": "a PPO job", "evaluate": "an evaluate job"}
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
    if processes > 1 and kind in ("generate", "evaluate"):
        what = "a generation job" if kind == "generate" else "an evaluation"
        raise JobError("processes", f"{what} runs in one process")
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
            "only PPO, evaluate and actively selecting generate jobs take a reward model, "
            f"not this {kind} job",
        )
    _second_reward_model(kind, config)
    if kind == "evaluate":
        _evaluation_parent(base, config)
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


def _frozen_rows(snapshot, field: str) -> list[dict]:
    from training.snapshots import snapshot_rows, verify_snapshot

    # a snapshot is the job's record of its inputs: files changed or lost since would make
    # a run (or a re-run) read something else, so they are refused
    if not verify_snapshot(snapshot):
        raise JobError(field, f"snapshot {snapshot.pk}'s files are missing or changed")
    return list(snapshot_rows(snapshot))


def _prompts(job) -> list[Prompt]:
    """The Prompt rows of the job's prompts snapshot, in its order."""
    ids = [row["prompt_id"] for row in _frozen_rows(job.snapshot, "snapshot")]
    prompts = Prompt.objects.in_bulk(ids)
    missing = [pk for pk in ids if pk not in prompts]
    if missing:
        raise JobError("prompts", f"prompts deleted since the snapshot: {missing[:10]}")
    return [prompts[pk] for pk in ids]


def sft_inputs(job) -> dict:
    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no demonstrations in the train split")
    return {"train_rows": train, "eval_rows": validation or None}


def reward_inputs(job) -> dict:
    train, validation = _snapshot_split(job, "train"), _snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no rankings in the train split")
    demonstrations = []
    if job.demonstrations_snapshot is not None:
        demonstrations = _frozen_rows(job.demonstrations_snapshot, "demonstrations_snapshot")
    return {
        "train_rows": train,
        "eval_rows": validation or None,
        "demonstrations": demonstrations or None,
    }


def prompt_inputs(job) -> dict:
    if job.snapshot is None:
        raise JobError("snapshot", "the job froze no prompts (made before prompts snapshots)")
    prompts = [row["prompt"] for row in _frozen_rows(job.snapshot, "snapshot")]
    if not prompts:
        raise JobError("prompts", "the job's prompts snapshot is empty")
    return {"prompts": prompts}


def ppo_inputs(job) -> dict:
    inputs = prompt_inputs(job)
    if job.pretrain_corpus_id and job.config.get("ptx_coef", 0) > 0:
        from training.corpora import corpus_texts

        inputs["pretrain_texts"] = corpus_texts(job.pretrain_corpus)
    return inputs


INPUTS = {"sft": sft_inputs, "rm": reward_inputs, "ppo": ppo_inputs, "generate": prompt_inputs}
INPUTS["evaluate"] = prompt_inputs


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
    """The sampled responses, and a ranking task per prompt with K of them.

    Identical samples of a prompt are one response (a prompt has each text once), so a
    prompt may end with fewer distinct responses than K. Those with fewer than the project's
    ``k_min`` get no task; how many, and which, is recorded (``_record_distinct``) rather
    than dropped silently. Each response's ``metadata["sampling"]`` holds the settings it was
    sampled with (temperature, top_p, top_k, max_new_tokens, seed, model).
    """
    from labeling.intake.responses import get_or_create_response

    prompts = _prompts(job)
    # rows name their prompt by its index in the job's list: active selection keeps only
    # some prompts (and marks each row with the policy and the prompt's score)
    by_prompt: dict[int, list[Response]] = {}
    chosen: dict[int, dict] = {}
    answers: list[tuple[int, int]] = []
    for i, row in enumerate(rows):
        prompt = prompts[row.get("prompt_index", i // config.k)]
        by_prompt.setdefault(prompt.pk, [])
        chosen[prompt.pk] = row.get("selection") or {}
        metadata = {"generation_job": job.pk}
        if row.get("sampling"):
            metadata["sampling"] = row["sampling"]
        response = get_or_create_response(
            prompt,
            row["response"] or "(empty response)",
            model_name=row["model"],
            origin=Response.Origin.CHECKPOINT,
            metadata=metadata,
        )
        if response.checkpoint_id is None and job.base_checkpoint_id:
            response.checkpoint_id = job.base_checkpoint_id
            response.save(update_fields=["checkpoint_id"])
        if response not in by_prompt[prompt.pk]:
            by_prompt[prompt.pk].append(response)
        answers.append((prompt.pk, response.pk))
    responses_generated.send(sender=TrainingJob, job=job, answers=answers)
    project = job.project
    if job.config.get("create_tasks", True):
        for prompt in prompts:
            responses = by_prompt.get(prompt.pk, [])
            if project.k_min <= len(responses) <= project.k_max:
                selection = chosen[prompt.pk]
                create_ranking_task(
                    project,
                    prompt,
                    responses,
                    selection_policy=selection.get("policy", ""),
                    selection_score=selection.get("score"),
                )
    _record_distinct(job, project, config.k, {pk: len(found) for pk, found in by_prompt.items()})
    return None


def _record_distinct(job, project, k: int, distinct: dict[int, int]) -> None:
    """How many distinct responses the prompts got: ``generate/distinct_per_prompt`` (mean)
    and ``generate/prompts_too_few_distinct`` (below ``k_min``, so no task) join the job's
    final metrics, and the prompt ids left without a task are named in its log tail (shown
    by ``manage.py job show`` and the API). Runs in the transaction that marks it succeeded."""
    from .joblog import LogTail
    from .models import JobMetric

    too_few = sorted(pk for pk, n in distinct.items() if n < project.k_min)
    values = {
        "generate/distinct_per_prompt": sum(distinct.values()) / max(len(distinct), 1),
        "generate/prompts_too_few_distinct": float(len(too_few)),
    }
    last = JobMetric.objects.filter(job_id=job.pk).order_by("-step").first()
    if last is None:
        JobMetric.objects.create(job_id=job.pk, step=0, values=values)
    else:
        last.values = {**last.values, **values}
        last.save(update_fields=["values"])
    line = (
        f"generate: {len(distinct)} prompts, {values['generate/distinct_per_prompt']:.2f} "
        f"distinct responses per prompt (k={k}); "
    )
    if too_few:
        shown = ", ".join(str(pk) for pk in too_few[:200])
        more = f" and {len(too_few) - 200} more" if len(too_few) > 200 else ""
        line += (
            f"{len(too_few)} with fewer than k_min={project.k_min} distinct, no ranking task: "
            f"prompt ids {shown}{more}"
        )
        log.warning("job %s: %s", job.pk, line)
    else:
        line += f"every prompt has at least k_min={project.k_min} distinct"
    stored = TrainingJob.objects.filter(pk=job.pk).values_list("log_tail", flat=True).first()
    tail = LogTail(stored or "")
    tail.add(line)
    TrainingJob.objects.filter(pk=job.pk).update(log_tail=tail.text())


OUTPUTS = {
    "sft": register_checkpoint,
    "rm": register_checkpoint,
    "ppo": register_checkpoint,
    "generate": register_generated,
    # an evaluation registers nothing: its numbers are the job's metrics (the last step's row)
    "evaluate": lambda job, config, result: None,
}


def _final_metrics(result: dict) -> dict:
    metrics = result.get("metrics", result)
    return {k: v for k, v in metrics.items() if is_number(v)}
