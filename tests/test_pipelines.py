"""The pipeline state machine without a worker: jobs are finished by hand through
``training.lifecycle`` (claim, then succeed or fail), as a worker would finish them."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.intake import dedup
from labeling.intake.ranking_tasks import create_ranking_task
from labeling.models import Prompt, Response
from pipelines import service
from pipelines.models import Pipeline, PipelineStage
from training import jobs, lifecycle
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

WORKER = "celery@test:1"


@pytest.fixture
def campaign(project, make_task, labeler, settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    return fill_campaign(project, make_task, labeler, n=8, validation_every=4)


@pytest.fixture
def base(db, tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    return Checkpoint.objects.create(name="tiny", kind="base", path=str(folder))


def finish(stage: PipelineStage, tmp_path: Path, *, ok: bool = True, tasks: int = 2):
    """Finish a stage's job as a worker would: a checkpoint for the kinds that make one, a
    ranking task per prompt (``tasks`` of them) for generate."""
    job = TrainingJob.objects.get(pk=stage.job_id)
    assert lifecycle.claim(job.pk, WORKER)
    job.refresh_from_db()
    if not ok:
        assert lifecycle.fail(job.pk, WORKER, "RuntimeError: out of memory\n\nTraceback ...")
        return job

    def register():
        if job.kind == "generate":
            for prompt in Prompt.objects.filter(pk__in=job.config["prompt_ids"])[:tasks]:
                texts = [f"sample {i} of job {job.pk}" for i in range(4)]
                responses = [
                    Response.objects.create(prompt=prompt, text=t, text_hash=dedup.text_hash(t))
                    for t in texts
                ]
                create_ranking_task(job.project, prompt, responses, overlap=2)
            return None
        if job.kind not in jobs.OUTPUT_KIND:
            return None
        folder = tmp_path / f"job{job.pk}"
        folder.mkdir()
        return Checkpoint.objects.create(
            name=f"job{job.pk}",
            kind=jobs.OUTPUT_KIND[job.kind],
            path=str(folder),
            parent=job.base_checkpoint,
            metrics={"eval/accuracy": 0.75} if job.kind == "rm" else {},
        )

    assert lifecycle.succeed(job, WORKER, register)
    return job


def stage_of(pipeline, kind, round_):
    return pipeline.stages.get(kind=kind, round=round_)


def test_one_pipeline_runs_at_a_time(campaign, base):
    first = service.start_pipeline(campaign, labelers="simulated", base=base)
    with pytest.raises(service.PipelineError, match=f"project: pipeline {first.pk} .* running"):
        service.start_pipeline(campaign, labelers="human")
    # the database says so too, whoever writes the row
    with pytest.raises(IntegrityError), transaction.atomic():
        Pipeline.objects.create(project=campaign, labelers="human")
    assert Pipeline.objects.count() == 1
    # and the command refuses with the reason
    with pytest.raises(CommandError, match="one pipeline runs at a time"):
        call_command("run_pipeline", "--project", campaign.slug, stdout=StringIO())
    # a failed pipeline holds no lock; resuming it waits until the running one is done
    Pipeline.objects.filter(pk=first.pk).update(status="failed")
    second = service.start_pipeline(campaign, labelers="human")
    with pytest.raises(service.PipelineError, match=f"pipeline {second.pk} of .* is running"):
        service.resume_pipeline(first)


def test_ai_labelers_and_bad_rounds_are_refused(campaign):
    # an AI labeler needs its judge (tests/test_ai_label_command.py runs one)
    with pytest.raises(service.PipelineError, match="labelers: ai:claude needs a judge"):
        service.start_pipeline(campaign, labelers="ai:claude")
    with pytest.raises(CommandError, match="ai:x needs a judge"):
        call_command(
            "run_pipeline", "--project", campaign.slug, "--labelers", "ai:x", stdout=StringIO()
        )
    with pytest.raises(service.PipelineError, match="rounds"):
        service.start_pipeline(campaign, rounds=0)
    with pytest.raises(service.PipelineError, match="config: unknown key 'sfft'"):
        service.start_pipeline(campaign, config={"sfft": {}})
    assert not Pipeline.objects.exists()


def test_a_failed_stage_stops_the_pipeline_and_resume_retries_it(campaign, base, tmp_path):
    pipeline = service.advance(service.start_pipeline(campaign, base=base))
    sft = stage_of(pipeline, "sft", 0)
    assert sft.status == "running" and sft.parent == base and sft.job.kind == "sft"
    finish(sft, tmp_path, ok=False)
    pipeline = service.advance(pipeline)
    assert pipeline.status == "failed"
    assert pipeline.error.startswith(f"sft (round 0) failed: job {sft.job_id} failed: RuntimeError")
    assert service.advance(pipeline).stages.count() == 1  # a failed pipeline does not move
    pipeline = service.resume_pipeline(pipeline)
    with pytest.raises(service.PipelineError, match="is running; only a failed one resumes"):
        service.resume_pipeline(pipeline)

    sft.refresh_from_db()
    assert sft.status == "running" and sft.job.status == "retrying"  # the same job, again
    finish(sft, tmp_path)
    pipeline = service.advance(pipeline)
    sft.refresh_from_db()
    generate = stage_of(pipeline, "generate", 1)
    assert sft.status == "succeeded" and sft.output.kind == "sft"
    assert generate.parent == sft.output and generate.job.base_checkpoint == sft.output
    # generate samples the train and validation prompts (the RM is evaluated on the latter)
    splits = set(Prompt.objects.filter(pk__in=generate.job.config["prompt_ids"]).values_list(
        "split", flat=True))  # fmt: skip
    assert splits == {"train", "validation"}


def test_two_rounds_with_human_labelers_and_lineage(
    campaign, base, tmp_path, labeler, other_labeler
):
    pipeline = service.start_pipeline(campaign, labelers="human", rounds=2, base=base)
    pipeline = service.advance(pipeline)
    finish(stage_of(pipeline, "sft", 0), tmp_path)
    pipeline = service.advance(pipeline)
    sft = stage_of(pipeline, "sft", 0).output
    for round_ in (1, 2):
        finish(stage_of(pipeline, "generate", round_), tmp_path, tasks=2)
        pipeline = service.advance(pipeline)
        rank = stage_of(pipeline, "rank", round_)
        # people have not ranked yet: the stage says what it waits for
        assert rank.status == "running" and pipeline.status == "running"
        waiting = (
            "waiting for labelers: 2 of 2 tasks still need rankings (4 rankings missing, 0 in)"
        )
        assert rank.note == waiting
        # a driver that stopped is started again with --resume; it shows what it waits for
        out = StringIO()
        with pytest.raises(CommandError, match="still running after --timeout"):
            call_command(
                "run_pipeline", "--project", campaign.slug, "--resume", "--timeout", "0.01",
                "--poll", "0.01", stdout=out,
            )  # fmt: skip
        assert f"round {round_} rank: running — {waiting}" in out.getvalue()
        for task in service.generated_tasks(pipeline, round_):
            for who in (labeler, other_labeler):
                record_ranking(task, who, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
        pipeline = service.advance(pipeline)
        rank.refresh_from_db()
        assert rank.status == "succeeded" and rank.metrics["rankings"] == 4.0
        assert not stage_of(pipeline, "sft", 0).note  # no stale "job 1 running, 80%"
        rm_stage = stage_of(pipeline, "rm", round_)
        assert rm_stage.parent == sft and rm_stage.job.base_checkpoint == sft
        finish(rm_stage, tmp_path)
        pipeline = service.advance(pipeline)
        rm = stage_of(pipeline, "rm", round_).output
        ppo_stage = stage_of(pipeline, "ppo", round_)
        assert ppo_stage.parent == sft and ppo_stage.reward_model == rm
        assert ppo_stage.job.config["reward_model"] == rm.path
        finish(ppo_stage, tmp_path)
        pipeline = service.advance(pipeline)
        policy = stage_of(pipeline, "ppo", round_).output
        evaluate = stage_of(pipeline, "evaluate", round_)
        assert evaluate.job.kind == "evaluate" and evaluate.job.base_checkpoint == policy
        # round over round: against the policy this round sampled from
        baseline = sft if round_ == 1 else stage_of(pipeline, "ppo", round_ - 1).output
        assert evaluate.job.config["baseline_checkpoint"] == baseline.pk
        assert evaluate.job.config["parent_model"] == baseline.path
        assert evaluate.job.config["reward_model"] == rm.path
        assert evaluate.job.snapshot.options["split"] == "validation"
        finish(evaluate, tmp_path)
        pipeline = service.advance(pipeline)
        if round_ == 1:  # round 2 samples from round 1's policy
            assert stage_of(pipeline, "generate", 2).parent == policy
    assert pipeline.status == "succeeded" and pipeline.finished_at is not None
    described = service.describe(pipeline)
    assert [(s["round"], s["kind"]) for s in described["stages"]] == service.plan(pipeline)
    assert described["stages"][3]["metrics"]["eval/accuracy"] == 0.75


def test_json_output_while_waiting(campaign, base):
    out = StringIO()
    with pytest.raises(CommandError, match="still running after --timeout"):
        call_command(
            "run_pipeline", "--project", campaign.slug, "--base", str(base.pk), "--json",
            "--timeout", "0.01", "--poll", "0.01", stdout=out,
        )  # fmt: skip
    shown = json.loads(out.getvalue())
    (stage,) = shown["stages"]
    assert set(stage) >= {"kind", "job", "status", "checkpoint", "parent", "reward_model"}
    assert stage["kind"] == "sft" and stage["status"] == "running" and stage["parent"] == base.pk
    assert "metrics" in stage and shown["pipeline"] == Pipeline.objects.get().pk


def test_an_evaluate_job_needs_a_reward_model_and_a_parent(campaign, base, tmp_path):
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    orphan = Checkpoint.objects.create(name="p", kind="policy", path=str(policy_dir))
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(policy_dir))
    with pytest.raises(jobs.JobError, match="reward_checkpoint: an evaluate job needs"):
        jobs.create_job(campaign, "evaluate", {}, base=orphan, enqueue=False)
    with pytest.raises(jobs.JobError, match="base_checkpoint: checkpoint .* has no parent"):
        jobs.create_job(campaign, "evaluate", {}, base=orphan, reward=rm, enqueue=False)
    # a named baseline stands in for the parent; it must be a policy-like checkpoint
    against = {"baseline_checkpoint": base.pk}
    job = jobs.create_job(campaign, "evaluate", against, base=orphan, reward=rm, enqueue=False)
    assert job.config["parent_model"] == base.path
    for value, message in ((rm.pk, "is a rm checkpoint"), (10**6, "no checkpoint"), ("1", "id")):
        with pytest.raises(jobs.JobError, match=f"baseline_checkpoint: .*{message}"):
            jobs.create_job(
                campaign, "evaluate", {"baseline_checkpoint": value}, base=orphan, reward=rm,
                enqueue=False,
            )  # fmt: skip


def test_a_stage_whose_job_is_refused_fails_with_the_reason(campaign, base):
    pipeline = service.start_pipeline(campaign, base=base, config={"sft": {"epochs": "many"}})
    pipeline = service.advance(pipeline)
    assert pipeline.status == "failed"
    assert pipeline.error == "sft (round 0) failed: config: epochs: expected an integer, got 'many'"
    stage = stage_of(pipeline, "sft", 0)
    assert stage.status == "failed" and stage.job is None
    assert not TrainingJob.objects.exists()  # the refused job was rolled back with nothing else


def test_simulated_preference_is_the_stated_rule():
    from labeling.demo.simulation import preference_ranks

    texts = ["great great tea", "tea", "great tea", "a great, great, great tea"]
    assert preference_ranks(texts) == [2, 4, 3, 1]
    assert preference_ranks(["great a", "great b", "tea"]) == [1, 1, 3]  # equal counts tie
    assert preference_ranks(["great a", "great b", "tea"], allow_ties=False) == [1, 2, 3]
    assert preference_ranks(["a long answer", "short", "mid one"]) == [3, 1, 2]  # all equal


def test_simulated_labelers_fill_the_open_slots_of_the_new_tasks(campaign, base, tmp_path, labeler):
    from labeling.models import Ranking, RankingTask

    pipeline = service.advance(service.start_pipeline(campaign, labelers="simulated", base=base))
    finish(stage_of(pipeline, "sft", 0), tmp_path)
    pipeline = service.advance(pipeline)
    finish(stage_of(pipeline, "generate", 1), tmp_path, tasks=3)
    tasks = list(service.generated_tasks(pipeline, 1))
    # a person ranked one task already: the simulated labelers leave that slot to them
    record_ranking(tasks[0], labeler, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
    pipeline = service.advance(pipeline)
    rank = stage_of(pipeline, "rank", 1)
    assert rank.status == "succeeded"
    assert rank.metrics == {"tasks": 3.0, "rankings": 6.0, "open_tasks": 0.0, "missing": 0.0}
    assert stage_of(pipeline, "rm", 1).status == "running"
    simulated = Ranking.objects.filter(task__in=tasks, labeler__username__startswith="pipeline-sim")
    assert simulated.count() == 5
    # each simulated ranking holds its slot, as a labeler's would: no task is served again
    assert [t.n_held for t in RankingTask.objects.filter(pk__in=[t.pk for t in tasks])] == [
        1, 2, 2
    ]  # fmt: skip


def _through_evaluate(pipeline, tmp_path):
    """Drive a simulated pipeline to its end, finishing each job as a worker would."""
    for _ in range(10):
        pipeline = service.advance(pipeline)
        stage = service.current_stage(pipeline)
        if pipeline.status != "running" or stage.job is None:
            continue
        if stage.job.status == "queued":
            finish(stage, tmp_path, tasks=2)
    return service.advance(pipeline)


def test_a_pipeline_can_open_a_blind_human_evaluation_of_each_round(campaign, base, tmp_path):
    from evaluations.models import Campaign

    test_prompts = Prompt.objects.filter(project=campaign).order_by("id")[:2]
    Prompt.objects.filter(pk__in=[p.pk for p in test_prompts]).update(split="test")
    pipeline = service.start_pipeline(
        campaign, base=base, config={"human_evaluation": {"overlap": 2, "max_new_tokens": 16}}
    )
    pipeline = _through_evaluate(pipeline, tmp_path)
    assert pipeline.status == "succeeded"
    evaluate = stage_of(pipeline, "evaluate", 1)
    opened = Campaign.objects.get(name=f"pipeline-{pipeline.pk}-round-1")
    assert evaluate.note == f"human evaluation opened: campaign {opened.name}"
    sft, policy = stage_of(pipeline, "sft", 0).output, stage_of(pipeline, "ppo", 1).output
    assert [c.checkpoint for c in opened.contestants.all()] == [sft, policy]
    assert opened.overlap == 2 and opened.split == "test"
    assert {c.generation_job.config["max_new_tokens"] for c in opened.contestants.all()} == {16}


def test_a_refused_human_evaluation_is_noted_not_fatal(campaign, base, tmp_path):
    from evaluations.models import Campaign

    pipeline = service.start_pipeline(campaign, base=base, config={"human_evaluation": {}})
    pipeline = _through_evaluate(pipeline, tmp_path)
    assert pipeline.status == "succeeded"  # the project has no test prompts
    assert stage_of(pipeline, "evaluate", 1).note.startswith("human evaluation not opened: split")
    assert not Campaign.objects.exists()
    with pytest.raises(service.PipelineError) as refused:
        service.start_pipeline(campaign, config={"human_evaluation": {"judges": 3}})
    assert refused.value.field == "human_evaluation"


def test_cancel_stops_the_running_stage_and_frees_the_lock(campaign, base, tmp_path, admin_user):
    pipeline = service.advance(service.start_pipeline(campaign, base=base))
    sft = stage_of(pipeline, "sft", 0)
    assert sft.job.status == "queued"
    pipeline = service.cancel_pipeline(pipeline, user=admin_user)
    assert pipeline.status == "cancelled" and pipeline.finished_at is not None
    assert pipeline.error == "cancelled by ada"
    sft.refresh_from_db()
    assert sft.status == "failed" and sft.job.status == "cancelled"
    assert sft.note == f"job {sft.job_id} cancelled: cancelled by ada"
    # a cancelled pipeline is left alone: no driver moves it, it is neither cancelled again
    # nor resumed
    assert service.advance(pipeline).status == "cancelled"
    assert service.advance_running() == 0
    with pytest.raises(service.PipelineError, match="is cancelled; only a running one"):
        service.cancel_pipeline(pipeline)
    with pytest.raises(service.PipelineError, match="is cancelled; only a failed one resumes"):
        service.resume_pipeline(pipeline)
    # the lock is free: a new pipeline starts
    assert service.start_pipeline(campaign, base=base).status == "running"


def test_cancel_keeps_a_job_that_has_just_finished_and_a_stage_that_starts_late(
    campaign, base, tmp_path
):
    pipeline = service.advance(service.start_pipeline(campaign, base=base))
    sft = stage_of(pipeline, "sft", 0)
    finish(sft, tmp_path)  # succeeded, not yet recorded by a driver
    pipeline = service.cancel_pipeline(pipeline)
    sft.refresh_from_db()
    assert pipeline.error == "cancelled" and sft.job.status == "succeeded"
    assert sft.status == "failed" and sft.note == f"cancelled (job {sft.job_id} had succeeded)"
    # a driver that read the pipeline before the cancel starts nothing after it
    service._start(pipeline, 1, "generate")
    assert pipeline.stages.count() == 1
    assert TrainingJob.objects.count() == 1
    # a pipeline that is not running is refused, naming the field
    with pytest.raises(service.PipelineError) as refused:
        service.cancel_pipeline(pipeline)
    assert refused.value.field == "status"


def test_advance_running_moves_every_running_pipeline(campaign, base, tmp_path, settings):
    from labeling.models import Project
    from pipelines import tasks

    from .pipeline_world import marker_project

    other = marker_project("other", train=4, validation=2)
    loop = service.start_pipeline(campaign, base=base)  # a loop pipeline nobody polls
    second = service.start_pipeline(other, base=base)
    done = service.start_pipeline(Project.objects.create(slug="done", name="Done"), base=base)
    Pipeline.objects.filter(pk=done.pk).update(status="succeeded")
    assert tasks.advance_running.apply().get() == 2
    assert stage_of(loop, "sft", 0).job.status == "queued"
    assert stage_of(second, "sft", 0).status == "running"
    assert not done.stages.exists()
    finish(stage_of(loop, "sft", 0), tmp_path)
    assert service.advance_running(campaign) == 1  # one project's only
    assert stage_of(loop, "generate", 1).status == "running"
    assert not second.stages.filter(kind="generate").exists()


def test_a_dpo_pipeline_trains_its_policy_with_dpo_judged_by_the_rm(campaign, base, tmp_path):
    with pytest.raises(service.PipelineError, match="algorithm: 'kto' is not one of ppo, dpo"):
        service.start_pipeline(campaign, base=base, config={"algorithm": "kto"})
    pipeline = service.start_pipeline(
        campaign, labelers="human", base=base, config={"algorithm": "dpo"}
    )
    assert [kind for _, kind in service.plan(pipeline)] == [
        "sft", "generate", "rank", "rm", "dpo", "evaluate"
    ]  # fmt: skip
    assert "dpo" in pipeline.config and "ppo" not in pipeline.config  # only its stages' sizes
    pipeline = service.advance(pipeline)
    finish(stage_of(pipeline, "sft", 0), tmp_path)
    pipeline = service.advance(pipeline)
    sft = stage_of(pipeline, "sft", 0).output
    finish(stage_of(pipeline, "generate", 1), tmp_path, tasks=2)
    pipeline = service.advance(pipeline)
    Pipeline.objects.filter(pk=pipeline.pk).update(labelers="simulated")  # rank them now
    pipeline = service.advance(pipeline)
    finish(stage_of(pipeline, "rm", 1), tmp_path)
    pipeline = service.advance(pipeline)
    rm = stage_of(pipeline, "rm", 1).output
    dpo = stage_of(pipeline, "dpo", 1)
    # DPO starts from SFT (its reference) and reads the rankings, not the reward model
    assert dpo.job.kind == "dpo" and dpo.parent == sft and dpo.reward_model is None
    assert dpo.job.snapshot.kind == "rankings" and "reward_model" not in dpo.job.config
    finish(dpo, tmp_path)
    pipeline = service.advance(pipeline)
    policy = stage_of(pipeline, "dpo", 1).output
    evaluate = stage_of(pipeline, "evaluate", 1)
    assert evaluate.job.base_checkpoint == policy and evaluate.reward_model == rm
    assert evaluate.job.config["baseline_checkpoint"] == sft.pk
    finish(evaluate, tmp_path)
    assert service.advance(pipeline).status == "succeeded"


@pytest.mark.slow
@pytest.mark.training
def test_a_dpo_pipeline_runs_on_the_tiny_model(db, tiny_path, tmp_path, settings):
    """The whole DPO loop for real, each stage's job run here as a worker would run it."""
    from .pipeline_world import TINY_STAGES, marker_project

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.PREFLAB_JOB_HEARTBEAT_S = 3600  # the test's transaction is not the thread's
    project = marker_project(train=24, validation=8)
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    dpo_config = {"rankings_per_batch": 8, "lr": 1e-3, "max_length": 64}
    config = TINY_STAGES | {"algorithm": "dpo", "dpo": dpo_config}
    pipeline = service.start_pipeline(project, base=base, config=config)
    for _ in range(len(service.plan(pipeline)) + 1):
        pipeline = service.advance(pipeline)
        stage = service.current_stage(pipeline)
        if pipeline.status != "running" or stage.job is None:
            continue
        assert jobs.run_job(stage.job_id, WORKER).status == "succeeded", stage.job.error
    assert pipeline.status == "succeeded", pipeline.error
    dpo = stage_of(pipeline, "dpo", 1)
    sft = stage_of(pipeline, "sft", 0).output
    assert dpo.output.kind == "policy" and dpo.output.parent == sft
    assert "eval/accuracy" in dpo.metrics and "rewards/margins" in dpo.metrics
    evaluation = stage_of(pipeline, "evaluate", 1)
    assert evaluation.parent == dpo.output and 0 <= evaluation.metrics["eval/win_rate"] <= 1
