"""Pipelines: InstructGPT's loop driven as one state machine.

    round 0:        sft
    round 1..N:     generate → rank → rm → ppo → evaluate

    retrain mode (a retraining schedule's chain, ``pipelines.retraining``):
    round 1:        rm → ppo → generate

    config ``"algorithm": "dpo"``: DPO trains each round's policy in place of PPO
    round 1..N:     generate → rank → rm → dpo → evaluate

The DPO pipeline keeps the RM stage: DPO needs no reward model to train, but the evaluate
stage needs one to judge the new policy against its baseline, so the RM is trained for
judging only (on the same rankings). DPO starts from the SFT checkpoint, its reference, as
PPO does, and learns from the rankings snapshot it freezes (every round's rankings so far).

Each stage but ``rank`` is a real training job (``training.jobs.create_job``, enqueued after
commit). Lineage, as in InstructGPT: SFT starts from the pipeline's base; generate samples
from the current policy (the SFT model in round 1, the previous round's PPO policy after);
the RM and PPO start from the SFT checkpoint (PPO's reference model is SFT too) and PPO is
trained against this round's RM; evaluate compares the new policy with the one the round
sampled from (SFT in round 1, the previous round's policy after: round over round), judged
by this round's RM. ``rank`` waits until every generated task has its overlap of
rankings: simulated labelers fill them at once (``labeling.demo.simulation.rank_tasks``),
people take their time.

``advance`` is the one entry point that moves a pipeline: it looks at the current stage,
records a finished job's outcome, and starts the next stage. It is safe to call from several
drivers at once: every status move is an ``UPDATE … WHERE status = <expected>``, and a stage
row is unique per (pipeline, round, kind), so two drivers never start the same stage twice
(the loser's job rolls back with its stage row).

    pipeline: running ──▶ succeeded
              running ──▶ failed ──resume──▶ running
              running ──cancel──▶ cancelled   (final; its running stage's job is cancelled)
    stage:    running ──▶ succeeded | failed ──resume──▶ running (its job retried)
              running ──cancel──▶ failed      (noted "cancelled by <user>")

``advance_running`` is beat's driver (``pipelines.advance_running``, every 30 s): it moves
every running pipeline, so one started from the API or by a schedule moves with no command
polling it; ``run_pipeline`` drives its own pipeline beside it (promptly, every ``--poll``).
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.errors import ServiceError
from labeling.models import Prompt
from training import jobs, lifecycle, presets
from training.models import Checkpoint, TrainingJob

from . import rank_stage
from .models import Pipeline, PipelineStage
from .rank_stage import generated_tasks, rank_progress  # noqa: F401  (part of this API)

log = logging.getLogger(__name__)
Kind = PipelineStage.Kind
# plain strings (a TextChoices member hashes by its name, so it would not find a stage's
# kind read from the database in a dict)
LOOP = ("generate", "rank", "rm", "ppo", "evaluate")
JOB_STAGES = ("sft", "generate", "rm", "ppo", "dpo", "evaluate")
# what trains each round's policy: config "algorithm" (default ppo)
ALGORITHMS = ("ppo", "dpo")
# the keys of a pipeline's config: each job stage's config, the simulated labelers', the
# size preset the job configs were filled from (training.presets) and the algorithm
CONFIG_KEYS = (
    *JOB_STAGES, "simulation", "preset", "human_evaluation", "ai_judge", "ai_labeler", "algorithm",
)  # fmt: skip
# labelers "ai:NAME": the account ai-NAME ranks with the judge config["ai_judge"] ("rm:ID" or
# "checkpoint:ID"); the pipeline keeps NAME as config["ai_labeler"] (training.ai_labelers)
# "human_evaluation": {...} opens a blind campaign, new policy against its baseline, after each
# evaluate stage (evaluations.campaigns.create_campaign's settings)
HUMAN_EVALUATION_KEYS = ("split", "max_prompts", "format", "overlap", "max_new_tokens")
MAX_ROUNDS = 20


class PipelineError(ServiceError):
    """A pipeline that cannot be started or resumed as asked."""


# --- starting and resuming -----------------------------------------------------------------


def parse_labelers(value: str) -> tuple[str, str | None]:
    """``human`` | ``simulated`` | ``ai:NAME`` → (the pipeline's labelers, the AI's NAME)."""
    from training.ai_labelers import AiLabelError, clean_name

    if value.startswith("ai:"):
        try:
            return Pipeline.Labelers.AI.value, clean_name(value[3:])
        except AiLabelError as exc:
            raise PipelineError("labelers", f"{value}: {exc.message}") from None
    if value not in (Pipeline.Labelers.HUMAN, Pipeline.Labelers.SIMULATED):
        raise PipelineError("labelers", f"{value!r} is not one of human, simulated, ai:NAME")
    return value, None


def _check_ai_judge(config: dict, labelers: str, ai_name: str | None) -> None:
    """An AI pipeline names its judge, which must exist; no other pipeline takes one."""
    from training.ai_labelers import AiLabelError, parse_judge

    if labelers != Pipeline.Labelers.AI:
        if "ai_judge" in config or "ai_labeler" in config:
            raise PipelineError("config", "ai_judge is for --labelers ai:NAME")
        return
    if "ai_judge" not in config:
        raise PipelineError(
            "labelers", f"ai:{ai_name} needs a judge: ai_judge rm:ID or checkpoint:ID"
        )
    try:
        parse_judge(config["ai_judge"], "ai_judge")
    except AiLabelError as exc:
        raise PipelineError(exc.field, exc.message) from None
    config["ai_labeler"] = ai_name


def start_pipeline(
    project,
    *,
    labelers: str = "simulated",
    rounds: int = 1,
    base: Checkpoint | None = None,
    config: dict | None = None,
    preset: str | None = None,
    user=None,
    mode: str = Pipeline.Mode.LOOP,
) -> Pipeline:
    """A new running pipeline; refused while another one of the project runs.

    Each job stage's config is ``config[kind]`` over the values of the size preset
    (``preset``, else ``config["preset"]``, else ``quick`` on a CPU and ``full`` on a GPU: see
    ``training.presets``); the pipeline keeps the filled-in configs, so it shows what ran.

    ``mode="retrain"``: RM → PPO → generate, the RM and PPO started from ``base`` (an SFT or
    base checkpoint); the rankings are the project's, the next tasks are left to labelers.
    """
    labelers, ai_name = parse_labelers(labelers)
    if mode not in Pipeline.Mode.values:
        raise PipelineError("mode", f"{mode!r} is not one of {', '.join(Pipeline.Mode.values)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        raise PipelineError("rounds", f"expected a whole number from 1 to {MAX_ROUNDS}")
    config = dict(config or {})
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        known = ", ".join(CONFIG_KEYS)
        raise PipelineError("config", f"unknown key {unknown[0]!r} (known: {known})")
    if config.get("algorithm", "ppo") not in ALGORITHMS:
        raise PipelineError("algorithm", f"{config['algorithm']!r} is not one of ppo, dpo")
    config = _sized(config, preset)
    _check_human_evaluation(config.get("human_evaluation"))
    _check_ai_judge(config, labelers, ai_name)
    first = "sft" if mode == Pipeline.Mode.LOOP else "rm"
    if base is not None and base.kind not in jobs.BASE_KINDS[first]:
        raise PipelineError("base", f"checkpoint {base.pk} is a {base.kind} checkpoint")
    if mode == Pipeline.Mode.RETRAIN:
        rounds, base = 1, base or jobs.base_checkpoint()
    _refuse_if_running(project)
    try:
        with transaction.atomic():
            return Pipeline.objects.create(
                project=project,
                labelers=labelers,
                mode=mode,
                rounds=rounds,
                base_checkpoint=base,
                config=config,
                created_by=user,
            )
    except IntegrityError:  # another driver started one between the check and the insert
        _refuse_if_running(project)
        raise


def _sized(config: dict, preset: str | None) -> dict:
    preset = preset or config.get("preset") or presets.default_preset()
    if preset not in presets.NAMES:
        raise PipelineError("preset", f"{preset!r} is not one of {', '.join(presets.NAMES)}")
    unused = [a for a in ALGORITHMS if a != config.get("algorithm", "ppo")]
    for kind in JOB_STAGES:
        if not isinstance(config.get(kind, {}), dict):
            raise PipelineError("config", f"{kind}: expected an object of job settings")
        if kind in unused and kind not in config:
            continue  # the other algorithm's stage does not run: no config to show for it
        config[kind] = presets.sized(preset, kind, config.get(kind))
    return config | {"preset": preset}


def _check_human_evaluation(wanted) -> None:
    if wanted is None:
        return
    if not isinstance(wanted, dict):
        raise PipelineError("human_evaluation", "expected an object of campaign settings")
    unknown = sorted(set(wanted) - set(HUMAN_EVALUATION_KEYS))
    if unknown:
        known = ", ".join(HUMAN_EVALUATION_KEYS)
        raise PipelineError("human_evaluation", f"unknown key {unknown[0]!r} (known: {known})")


def _refuse_if_running(project, *, but=None) -> None:
    running = Pipeline.objects.filter(project=project, status=Pipeline.Status.RUNNING)
    if but is not None:
        running = running.exclude(pk=but.pk)
    other = running.first()
    if other is not None:
        raise PipelineError(
            "project",
            f"pipeline {other.pk} of {project.slug} is running; one pipeline runs at a time",
        )


def resume_pipeline(pipeline: Pipeline) -> Pipeline:
    """failed → running; the failed stage goes again (its job retried: it resumes from its
    saved state), or is started afresh when it never got a job."""
    _refuse_if_running(pipeline.project, but=pipeline)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the constraint's refusal ends only it
                moved = (
                    Pipeline.objects.filter(pk=pipeline.pk, status=Pipeline.Status.FAILED).update(
                        status=Pipeline.Status.RUNNING, error="", finished_at=None
                    )
                    == 1
                )
        except IntegrityError:  # another pipeline of the project started meanwhile
            _refuse_if_running(pipeline.project, but=pipeline)
            raise
        if not moved:
            pipeline.refresh_from_db()
            raise PipelineError(
                "status", f"pipeline {pipeline.pk} is {pipeline.status}; only a failed one resumes"
            )
        for stage in pipeline.stages.filter(status=PipelineStage.Status.FAILED):
            job = stage.job
            if job is not None and job.status in (
                TrainingJob.Status.FAILED,
                TrainingJob.Status.CANCELLED,
            ):
                # the same job again, from its saved state: what it did is not redone
                lifecycle.retry(job)
                PipelineStage.objects.filter(
                    pk=stage.pk, status=PipelineStage.Status.FAILED
                ).update(status=PipelineStage.Status.RUNNING, note="", finished_at=None)
            else:
                # no job to retry (it was refused, or this is the rank stage): the stage is
                # made again from the start by the next advance
                stage.delete()
    pipeline.refresh_from_db()
    return pipeline


def cancel_pipeline(pipeline: Pipeline, user=None) -> Pipeline:
    """running → cancelled (final; the project's lock is free again). The running stage's job
    is cancelled through ``training.lifecycle`` (one that has just finished stays as it
    ended) and the stage fails with a note saying who cancelled it."""
    reason = f"cancelled by {user.get_username()}" if user is not None else "cancelled"
    with transaction.atomic():
        moved = Pipeline.objects.filter(pk=pipeline.pk, status=Pipeline.Status.RUNNING).update(
            status=Pipeline.Status.CANCELLED, error=reason, finished_at=timezone.now()
        )
        if not moved:
            pipeline.refresh_from_db()
            raise PipelineError(
                "status",
                f"pipeline {pipeline.pk} is {pipeline.status}; only a running one is cancelled",
            )
        for stage in pipeline.stages.filter(status=PipelineStage.Status.RUNNING):
            note = reason
            if stage.job_id is not None:
                job = TrainingJob.objects.get(pk=stage.job_id)
                try:
                    lifecycle.cancel(job)
                    note = f"job {job.pk} cancelled: {reason}"
                except lifecycle.TransitionError:  # it ended meanwhile: it keeps its outcome
                    job.refresh_from_db()
                    note = f"{reason} (job {job.pk} had {job.status})"
            _finish_stage(stage, PipelineStage.Status.FAILED, note=note)
    pipeline.refresh_from_db()
    log.info("pipeline %s: %s", pipeline.pk, reason)
    return pipeline


# --- the state machine ---------------------------------------------------------------------


def advance_running(project=None) -> int:
    """Drive every running pipeline (of ``project``), loop and retrain alike, as far as it
    goes now; returns how many there were. Beat's driver: safe beside any other (``advance``
    is), so a pipeline that ``run_pipeline`` also drives is moved by whichever comes first."""
    running = Pipeline.objects.filter(status=Pipeline.Status.RUNNING).select_related("project")
    if project is not None:
        running = running.filter(project=project)
    pipelines = list(running.order_by("id"))
    for pipeline in pipelines:
        try:
            advance(pipeline)
        except Exception:  # one pipeline's trouble must not stop the others' progress
            log.exception("pipeline %s: advance failed", pipeline.pk)
    return len(pipelines)


def policy_kind(pipeline: Pipeline) -> str:
    """The stage that trains each round's policy: ``ppo``, or ``dpo`` (config algorithm)."""
    return pipeline.config.get("algorithm", "ppo")


def plan(pipeline: Pipeline) -> list[tuple[int, str]]:
    """Every stage of the pipeline, in order: (round, kind)."""
    policy = policy_kind(pipeline)
    if pipeline.mode == Pipeline.Mode.RETRAIN:
        return [(1, "rm"), (1, policy), (1, "generate")]
    loop = [policy if kind == "ppo" else kind for kind in LOOP]
    return [(0, "sft")] + [(r, k) for r in range(1, pipeline.rounds + 1) for k in loop]


def current_stage(pipeline: Pipeline) -> PipelineStage | None:
    """The latest stage in plan order (the one the pipeline is at)."""
    order = {step: i for i, step in enumerate(plan(pipeline))}
    stages = list(pipeline.stages.all())
    return max(stages, key=lambda s: order[(s.round, s.kind)], default=None)


def advance(pipeline: Pipeline) -> Pipeline:
    """Move the pipeline as far as it can go now; returns it refreshed. Never blocks: a stage
    whose job runs, or whose tasks wait for labelers, is left running."""
    for _ in range(len(plan(pipeline)) + 1):
        pipeline.refresh_from_db()
        if pipeline.status != Pipeline.Status.RUNNING:
            break
        stage = current_stage(pipeline)
        if stage is not None and stage.status == PipelineStage.Status.RUNNING:
            stage = _check(pipeline, stage)
            if stage.status == PipelineStage.Status.RUNNING:
                break
        if stage is not None and stage.status == PipelineStage.Status.FAILED:
            _fail(pipeline, f"{stage.kind} (round {stage.round}) failed: {stage.note}")
            break
        steps = plan(pipeline)
        following = steps.index((stage.round, stage.kind)) + 1 if stage is not None else 0
        if following == len(steps):
            Pipeline.objects.filter(pk=pipeline.pk, status=Pipeline.Status.RUNNING).update(
                status=Pipeline.Status.SUCCEEDED, finished_at=timezone.now()
            )
            break
        _start(pipeline, *steps[following])
    pipeline.refresh_from_db()
    return pipeline


def _fail(pipeline: Pipeline, error: str) -> None:
    Pipeline.objects.filter(pk=pipeline.pk, status=Pipeline.Status.RUNNING).update(
        status=Pipeline.Status.FAILED, error=error, finished_at=timezone.now()
    )


def _finish_stage(stage: PipelineStage, status: str, **fields) -> PipelineStage:
    PipelineStage.objects.filter(pk=stage.pk, status=PipelineStage.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    stage.refresh_from_db()
    return stage


def _stage(pipeline: Pipeline, round_: int, kind: str) -> PipelineStage | None:
    return pipeline.stages.filter(round=round_, kind=kind).first()


def _output(pipeline: Pipeline, round_: int, kind: str) -> Checkpoint:
    stage = _stage(pipeline, round_, kind)
    if stage is None or stage.output is None:
        raise PipelineError("stage", f"the {kind} stage of round {round_} has no checkpoint")
    return stage.output


def _sft_of(pipeline: Pipeline) -> Checkpoint:
    """What the RM and PPO start from: the SFT stage's output, or (retrain) the given one."""
    if pipeline.mode == Pipeline.Mode.RETRAIN:
        return pipeline.base_checkpoint
    return _output(pipeline, 0, Kind.SFT)


def _policy_for(pipeline: Pipeline, round_: int) -> Checkpoint:
    """What round ``round_`` samples from: SFT first, then the previous round's policy;
    a retrain chain samples from the policy it has just trained."""
    if pipeline.mode == Pipeline.Mode.RETRAIN:
        return _output(pipeline, round_, policy_kind(pipeline))
    if round_ == 1:
        return _output(pipeline, 0, Kind.SFT)
    return _output(pipeline, round_ - 1, policy_kind(pipeline))


def _start(pipeline: Pipeline, round_: int, kind: str) -> None:
    """Create the stage (and its job); a refusal ends the stage failed with the reason."""
    project, config = pipeline.project, pipeline.config
    parent = reward = None
    try:
        if kind == Kind.SFT:
            parent = pipeline.base_checkpoint or jobs.base_checkpoint()
        elif kind in (Kind.GENERATE, Kind.RANK):
            parent = _policy_for(pipeline, round_)
        elif kind in (Kind.RM, Kind.DPO):  # DPO's reference is SFT, as PPO's is
            parent = _sft_of(pipeline)
        elif kind == Kind.PPO:
            parent = _sft_of(pipeline)
            reward = _output(pipeline, round_, Kind.RM)
        elif kind == Kind.EVALUATE:
            parent = _output(pipeline, round_, policy_kind(pipeline))
            reward = _output(pipeline, round_, Kind.RM)
        job_config = dict(config.get(kind) or {})
        if kind == Kind.GENERATE:
            # the train and validation prompts: the RM measures its accuracy on the latter
            job_config["prompt_ids"] = list(
                Prompt.objects.filter(project=project, split__in=["train", "validation"])
                .order_by("id")
                .values_list("id", flat=True)
            )
        elif kind == Kind.EVALUATE:
            job_config.setdefault("split", "validation")
            # round over round: the new policy against the one this round sampled from
            # (SFT in round 1, the previous round's policy after)
            job_config["baseline_checkpoint"] = _policy_for(pipeline, round_).pk
        with transaction.atomic():
            # the pipeline's row locked: a cancel that came first leaves it cancelled and
            # nothing starts; one that comes after waits for this stage, then cancels its job
            if not _still_running(pipeline, lock=True):
                return
            job = None
            if kind != Kind.RANK:
                job = jobs.create_job(
                    project, kind, job_config, base=parent, reward=reward, user=pipeline.created_by
                )
            PipelineStage.objects.create(
                pipeline=pipeline,
                round=round_,
                kind=kind,
                job=job,
                parent=parent,
                reward_model=reward,
            )
    except IntegrityError:
        log.info("pipeline %s: %s of round %s started by another driver", pipeline.pk, kind, round_)
    except ServiceError as exc:
        if not _still_running(pipeline):  # cancelled meanwhile: nothing to record
            return
        PipelineStage.objects.get_or_create(
            pipeline=pipeline,
            round=round_,
            kind=kind,
            defaults={
                "status": PipelineStage.Status.FAILED,
                "parent": parent,
                "reward_model": reward,
                "note": f"{exc.field}: {exc.message}",
                "finished_at": timezone.now(),
            },
        )


def _still_running(pipeline: Pipeline, *, lock: bool = False) -> bool:
    rows = Pipeline.objects.select_for_update() if lock else Pipeline.objects
    return rows.filter(pk=pipeline.pk, status=Pipeline.Status.RUNNING).exists()


def _check(pipeline: Pipeline, stage: PipelineStage) -> PipelineStage:
    """Record the outcome of a running stage, if it has one."""
    if stage.kind == Kind.RANK:
        return _check_rank(pipeline, stage)
    job = TrainingJob.objects.get(pk=stage.job_id)
    if job.status == TrainingJob.Status.SUCCEEDED:
        note = ""  # the progress note ("job 4 running, 88%") is stale once it is done
        if stage.kind == Kind.EVALUATE and pipeline.config.get("human_evaluation") is not None:
            note = _open_human_evaluation(pipeline, stage, job)
        return _finish_stage(
            stage,
            PipelineStage.Status.SUCCEEDED,
            output=job.output_checkpoint,
            metrics=stage_metrics(pipeline, stage, job),
            note=note,
        )
    if job.status in (TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED):
        reason = (job.error.strip().splitlines() or [""])[0] or "no reason recorded"
        note = f"job {job.pk} {job.status}: {reason}"
        return _finish_stage(stage, PipelineStage.Status.FAILED, note=note)
    progress = f"job {job.pk} {job.status}, {job.progress:.0%}"
    if stage.note != progress:
        PipelineStage.objects.filter(pk=stage.pk).update(note=progress)
        stage.note = progress
    return stage


def _open_human_evaluation(pipeline: Pipeline, stage: PipelineStage, job: TrainingJob) -> str:
    """A blind campaign, the round's new policy against its baseline, for labelers to judge
    beside the RM's verdict. The pipeline does not wait for it: people take days. A refusal
    (say, no test prompts) is noted on the stage, not a failure of the loop."""
    from evaluations import campaigns

    wanted = dict(pipeline.config["human_evaluation"])
    generation = {}
    if "max_new_tokens" in wanted:
        generation["max_new_tokens"] = wanted.pop("max_new_tokens")
    baseline = Checkpoint.objects.get(pk=job.config["baseline_checkpoint"])
    name = f"pipeline-{pipeline.pk}-round-{stage.round}"
    try:
        campaigns.create_campaign(
            pipeline.project,
            name,
            [{"checkpoint": baseline}, {"checkpoint": stage.parent}],
            generation=generation,
            user=pipeline.created_by,
            **wanted,
        )
    except ServiceError as exc:
        if not pipeline.project.evaluation_campaigns.filter(name=name).exists():
            return f"human evaluation not opened: {exc.field}: {exc.message}"
        # another driver of the pipeline opened it a moment ago
    return f"human evaluation opened: campaign {name}"


# --- the rank stage (pipelines/rank_stage.py ranks; this records the outcome) -------------


def _check_rank(pipeline: Pipeline, stage: PipelineStage) -> PipelineStage:
    status, fields = rank_stage.rank(pipeline, stage)
    if status is not None:
        return _finish_stage(stage, status, **fields)
    if fields["note"] != stage.note or fields["metrics"] != stage.metrics:
        PipelineStage.objects.filter(pk=stage.pk).update(**fields)
        stage.note, stage.metrics = fields["note"], fields["metrics"]
    return stage


# --- what each stage records ---------------------------------------------------------------


def stage_metrics(pipeline: Pipeline, stage: PipelineStage, job: TrainingJob) -> dict:
    """The numbers a finished stage keeps: its checkpoint's final metrics and the job's last
    step; PPO adds its score gain over the run, generate the tasks it made."""
    series = job.metric_series()
    metrics = dict(series[-1]) if series else {}
    metrics.pop("step", None)
    if job.output_checkpoint is not None:
        metrics.update(job.output_checkpoint.metrics)
    if stage.kind == Kind.PPO:
        scores = [row["objective/scores"] for row in series if "objective/scores" in row]
        if scores:
            window = max(1, min(3, len(scores) // 2))
            first = sum(scores[:window]) / window
            last = sum(scores[-window:]) / window
            # the RM's score of the rollouts, early against late: what PPO bought
            metrics.update(
                {"ppo/score_first": first, "ppo/score_last": last, "ppo/score_gain": last - first}
            )
    if stage.kind == Kind.GENERATE:
        metrics["generate/tasks"] = float(generated_tasks(pipeline, stage.round).count())
    return {k: v for k, v in metrics.items() if jobs.is_number(v)}


def describe(pipeline: Pipeline) -> dict:
    """The pipeline as ``run_pipeline --json`` prints it."""
    return {
        "pipeline": pipeline.pk,
        "status": pipeline.status,
        "error": pipeline.error,
        "labelers": pipeline.labelers,
        "mode": pipeline.mode,
        "rounds": pipeline.rounds,
        "stages": [
            {
                "round": stage.round,
                "kind": stage.kind,
                "job": stage.job_id,
                "status": stage.status,
                "checkpoint": stage.output_id,
                "parent": stage.parent_id,
                "reward_model": stage.reward_model_id,
                "metrics": stage.metrics,
                "note": stage.note,
            }
            for stage in sorted(pipeline.stages.all(), key=_plan_order(pipeline))
        ],
    }


def _plan_order(pipeline: Pipeline):
    order = {step: i for i, step in enumerate(plan(pipeline))}
    return lambda stage: order.get((stage.round, stage.kind), len(order))
