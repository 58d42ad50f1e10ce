"""Training jobs through the platform: snapshot → engine → checkpoint, with the tiny model.

The engine's own tests show that learning happens; these show the glue: data frozen per
job, the config validated against the engine's dataclass, a job claimed once, progress and
metrics recorded, cancellation honoured, and the loop closed (generated samples become
ranking tasks).
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.conf import settings

from labeling.models import Prompt, RankingTask, Response
from training import jobs, lifecycle, runner
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"sft": {"epochs": 1, "batch_size": 4, "max_length": 64, "learning_rate": 1e-3}}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    # The heartbeat thread has a database connection of its own, which cannot see the rows
    # of a test that runs inside a transaction: it would take the job for lost. The worker
    # tests (test_job_faults.py) beat every second.
    settings.PREFLAB_JOB_HEARTBEAT_S = 3600
    return settings.PREFLAB_ARTIFACTS_DIR


@pytest.fixture
def base(db, tiny_path):
    return Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))


@pytest.fixture
def cancel_at_step(monkeypatch):
    """cancel_at_step(n): the job is cancelled (as by a user) when the engine reports step n."""
    record = runner.Recorder.__call__

    def patch(n: int):
        def cancelling(self, step, total, metrics):
            if step == n:
                lifecycle.cancel(self.job)
            return record(self, step, total, metrics)

        monkeypatch.setattr(runner.Recorder, "__call__", cancelling)

    return patch


@pytest.fixture
def campaign(project, make_task, labeler):
    """12 train + 4 validation prompts, each with a demonstration and a ranking of 4."""
    return fill_campaign(project, make_task, labeler, n=16, validation_every=4)


@pytest.mark.training
def test_sft_then_reward_then_ppo_then_generate(campaign, base, artifacts):
    sft_job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    assert sft_job.snapshot.kind == "demonstrations" and sft_job.snapshot.n_rows == 16
    sft_job = jobs.run_job(sft_job.pk)
    assert sft_job.status == "succeeded", sft_job.error
    assert sft_job.progress == 1.0 and sft_job.metric_series()
    assert "train/loss" in sft_job.log_tail and sft_job.attempts == 1
    sft = sft_job.output_checkpoint
    assert sft.kind == "sft" and sft.parent == base
    assert (Path(sft.path) / "config.json").exists()

    rm_config = {"lr": 1e-3, "rankings_per_batch": 4, "max_length": 64}
    rm_job = jobs.run_job(jobs.create_job(campaign, "rm", rm_config, base=sft, enqueue=False).pk)
    assert rm_job.status == "succeeded", rm_job.error
    rm = rm_job.output_checkpoint
    assert rm.kind == "rm" and rm.snapshot.kind == "rankings"
    assert "eval/accuracy" in rm.metrics

    ppo_config = {"steps": 2, "rollouts_per_step": 4, "mini_batch_size": 4, "ppo_epochs": 1,
                  "response_length": 8, "max_prompt_length": 32}  # fmt: skip
    ppo_job = jobs.create_job(campaign, "ppo", ppo_config, base=sft, reward=rm, enqueue=False)
    ppo_job = jobs.run_job(ppo_job.pk)
    assert ppo_job.status == "succeeded", ppo_job.error
    assert ppo_job.output_checkpoint.kind == "policy"
    assert {"objective/kl", "objective/rlhf_reward"} <= set(ppo_job.metric_series()[-1])

    # The loop closes: the policy's samples become new ranking tasks for labelers.
    before = RankingTask.objects.count()
    gen = jobs.create_job(
        campaign, "generate", {"k": 4, "max_new_tokens": 6, "max_prompts": 3},
        base=ppo_job.output_checkpoint, enqueue=False,
    )  # fmt: skip
    gen = jobs.run_job(gen.pk)
    assert gen.status == "succeeded", gen.error
    new = Response.objects.filter(origin="checkpoint", checkpoint_id=ppo_job.output_checkpoint_id)
    assert new.count() >= 3
    # Random tiny-model samples of 6 tokens are all distinct: K = 4 responses, one task each.
    assert RankingTask.objects.count() == before + 3
    assert gen.metric_series()[-1]["step"] >= 1


BAD_INPUT = [
    ({"no_such_option": 1}, {}, "config: unknown SFTConfig key 'no_such_option'"),
    ({"epochs": "many"}, {}, "config: epochs: expected an integer"),
    ({"learning_rate": -1e-3}, {}, "config: learning_rate: must be > 0"),
    ({"processes": 10_000}, {}, "processes: 10000 asked, this host runs at most"),
    ({"processes": 0}, {}, "processes: expected a whole number >= 1"),
    ({"accelerate_config": "/no/such.yaml"}, {}, "accelerate_config: no file"),
    ({"train_file": "/tmp/rows.jsonl"}, {}, "config: train_file: set by the platform"),
    ({"output_dir": "/tmp/elsewhere"}, {}, "config: output_dir: set by the platform"),
    ({}, {"base": "missing-folder"}, "base_checkpoint: checkpoint .* folder .* is missing"),
    ({}, {"base": "rm"}, "base_checkpoint: checkpoint .* is a rm checkpoint; a sft job needs"),
]


@pytest.mark.parametrize("config, checkpoints, message", BAD_INPUT)
def test_bad_input_is_refused_and_nothing_is_queued(
    campaign, base, artifacts, tmp_path, config, checkpoints, message,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    made = {
        "missing-folder": Checkpoint.objects.create(name="gone", kind="sft", path="/no/such/dir"),
        "rm": Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path)),
    }
    base = made[checkpoints["base"]] if "base" in checkpoints else base
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(jobs.JobError, match=message):
            jobs.create_job(campaign, "sft", config, base=base)
    assert callbacks == [] and TrainingJob.objects.count() == 0


def test_a_ppo_job_needs_a_reward_model_checkpoint(campaign, base, artifacts, tmp_path):
    with pytest.raises(jobs.JobError, match="reward_checkpoint: a PPO job needs"):
        jobs.create_job(campaign, "ppo", {}, base=base, enqueue=False)
    sft = Checkpoint.objects.create(name="sft", kind="sft", path=str(tmp_path))
    with pytest.raises(jobs.JobError, match="reward_checkpoint: checkpoint .* is a sft checkpoint"):
        jobs.create_job(campaign, "ppo", {}, base=base, reward=sft, enqueue=False)
    with pytest.raises(jobs.JobError, match="processes: a generation job runs in one process"):
        jobs.create_job(campaign, "generate", {"processes": 2}, base=base, enqueue=False)
    assert TrainingJob.objects.count() == 0


def test_validating_a_job_imports_no_torch(tmp_path):
    """The web process validates configs (all four kinds) without loading the training stack."""
    code = """
import sys, django
django.setup()
import api.urls, training.jobs, training.admin
from training.models import TrainingJob
for kind in ("sft", "rm", "ppo", "generate"):
    training.jobs.engine_config(TrainingJob(kind=kind, config={"seed": 3}))
try:
    training.jobs.engine_config(TrainingJob(kind="rm", config={"lr": -1}))
except training.jobs.JobError as exc:
    print(exc)
print(sorted(m for m in ("torch", "transformers", "accelerate") if m in sys.modules))
"""
    env = dict(os.environ, PREFLAB_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="preflab.settings")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["config: lr: must be > 0, got -1.0", "[]"]


def test_a_job_is_claimed_once_and_a_cancelled_one_is_not_run(campaign, base, artifacts):
    job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    assert lifecycle.claim(job.pk, "w@h:1") is True
    assert jobs.run_job(job.pk, "w@h:2").worker == "w@h:1"  # not run a second time
    job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    lifecycle.cancel(job)
    assert jobs.run_job(job.pk).status == "cancelled"


@pytest.mark.training
def test_cancel_is_honoured_within_one_optimizer_step(campaign, base, artifacts, cancel_at_step):
    job = jobs.create_job(campaign, "sft", dict(SMALL["sft"], epochs=50), base=base, enqueue=False)
    cancel_at_step(3)
    job = jobs.run_job(job.pk)
    assert job.status == "cancelled" and job.output_checkpoint is None
    # the engine stopped at the step boundary where it saw the cancel: no step 4
    assert [row["step"] for row in job.metric_series()] == [1, 2]
    assert not (jobs.job_dir(job) / "model" / "config.json").exists()


@pytest.mark.slow
@pytest.mark.training
def test_a_cancelled_launch_stops_its_whole_process_group(
    campaign, base, artifacts, cancel_at_step, settings
):
    """A job run under `accelerate launch` (2 gloo processes here) that is cancelled has its
    launcher and both ranks terminated, and registers nothing."""
    settings.PREFLAB_MAX_PROCESSES = 2
    config = {"processes": 2, "lr": 1e-3, "rankings_per_batch": 2, "max_length": 48, "epochs": 20}
    job = jobs.create_job(campaign, "rm", config, base=base, enqueue=False)
    cancel_at_step(3)
    job = jobs.run_job(job.pk)
    assert job.status == "cancelled" and job.output_checkpoint is None
    assert [row["step"] for row in job.metric_series()] == [1, 2]
    spec = str(jobs.job_dir(job) / "launch" / "spec.json")
    left = subprocess.run(["pgrep", "-f", spec], capture_output=True, text=True).stdout
    assert left == "", f"processes of the cancelled launch still run: {left}"
    assert "accelerate.commands.launch --num_processes 2" in job.log_tail


@pytest.mark.training
def test_a_cancel_racing_the_final_save_ends_cancelled(campaign, base, artifacts, monkeypatch):
    """The engine wrote its final model, and the cancel lands before the success is recorded:
    the job ends cancelled and no checkpoint is registered."""
    job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    execute = jobs.execute

    def cancel_after_the_final_save(job, *args):
        result = execute(job, *args)
        assert (Path(result["output_dir"]) / "config.json").exists()
        lifecycle.cancel(job)
        return result

    monkeypatch.setattr(jobs, "execute", cancel_after_the_final_save)
    checkpoints = Checkpoint.objects.count()
    job = jobs.run_job(job.pk)
    assert job.status == "cancelled" and job.output_checkpoint is None
    assert Checkpoint.objects.count() == checkpoints


@pytest.mark.training
def test_a_failed_job_retried_resumes_with_one_series(campaign, base, artifacts, monkeypatch):
    config = {"lr": 1e-3, "rankings_per_batch": 1, "max_length": 64, "save_every": 3}
    job = jobs.create_job(campaign, "rm", config, base=base, enqueue=False)
    record = runner.Recorder.__call__

    def crash_at_step_5(self, step, total, metrics):
        if step == 5:
            warnings.warn("the disk is nearly full", stacklevel=1)
            raise RuntimeError("simulated crash at step 5")
        return record(self, step, total, metrics)

    monkeypatch.setattr(runner.Recorder, "__call__", crash_at_step_5)
    job = jobs.run_job(job.pk)
    assert job.status == "failed" and job.error.startswith("RuntimeError: simulated crash")
    # the log tail is the run's real output: the warning and the traceback
    assert "the disk is nearly full" in job.log_tail
    assert "Traceback" in job.log_tail and "simulated crash at step 5" in job.log_tail
    monkeypatch.setattr(runner.Recorder, "__call__", record)

    lifecycle.retry(job)
    job = jobs.run_job(job.pk)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2 and job.resumed_from_step == 3
    steps = [row["step"] for row in job.metric_series()]
    assert steps == list(range(1, 13))  # 12 rankings in the train split, one a step
    assert "eval/accuracy" in job.metric_series()[-1] and "train/loss" in job.metric_series()[-1]
    assert Checkpoint.objects.filter(kind="rm").count() == 1
    assert "--- attempt 2" in job.log_tail and "resumed from step 3" in job.log_tail


def test_job_enqueued_only_after_commit(
    campaign, base, artifacts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.create_job(campaign, "sft", SMALL["sft"], base=base)
    assert len(callbacks) == 1


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_generate_job_runs_on_a_real_worker(real_services, project, make_task, tiny_path, tmp_path):
    """create_job → on_commit → broker → worker process → responses and tasks in the database."""
    for _ in range(2):
        make_task(k=4)
    Prompt.objects.update(split="train")
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    db = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PREFLAB_ARTIFACTS_DIR=str(tmp_path),
    )
    from preflab.celery import app

    app.control.purge()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "preflab", "worker", "--pool", "solo",
         "--queues", "generation", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        job = jobs.create_job(project, "generate", {"k": 4, "max_new_tokens": 5}, base=base)
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert job.status == "succeeded", (job.status, job.error)
        assert job.worker.startswith("celery@") and job.attempts == 1
        assert Response.objects.filter(origin="checkpoint").count() == 8
        assert RankingTask.objects.filter(source="labeling").count() == 4
        assert json.dumps(job.metric_series())
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.training
def test_generated_responses_record_sampling_and_identical_samples_merge(
    project, make_task, base, tiny_path, artifacts
):
    """Greedy decoding gives K identical samples: one response per prompt, no task, and the
    job says which prompts got too few distinct samples instead of dropping them silently."""
    from io import StringIO

    from django.core.management import call_command

    tasks = [make_task(k=4) for _ in range(3)]
    Prompt.objects.update(split="train")
    before = RankingTask.objects.count()
    greedy = {"k": 4, "temperature": 0, "max_new_tokens": 5, "seed": 7}
    job = jobs.run_job(jobs.create_job(project, "generate", greedy, base=base, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    generated = Response.objects.filter(origin="checkpoint").order_by("prompt_id")
    assert [r.prompt_id for r in generated] == [t.prompt_id for t in tasks]  # 4 samples → 1 each
    for response in generated:
        assert response.checkpoint_id == base.pk
        assert response.metadata == {
            "generation_job": job.pk,
            "sampling": {"temperature": 0.0, "top_p": None, "top_k": None, "max_new_tokens": 5,
                         "seed": 7, "model": str(tiny_path)},
        }  # fmt: skip
    assert RankingTask.objects.count() == before  # 1 distinct < k_min = 4: no task
    final = job.metric_series()[-1]
    assert final["generate/prompts_too_few_distinct"] == 3
    assert final["generate/distinct_per_prompt"] == 1.0
    ids = ", ".join(str(t.prompt_id) for t in tasks)
    assert f"3 with fewer than k_min=4 distinct, no ranking task: prompt ids {ids}" in job.log_tail
    out = StringIO()
    call_command("job", "show", str(job.pk), stdout=out)
    assert "generate/prompts_too_few_distinct=3" in out.getvalue()
    assert f"prompt ids {ids}" in out.getvalue()

    # sampled with the defaults (the tiny model's generation_config sets none): K distinct
    # samples, a task per prompt, and the settings on every response
    sampled = {"k": 4, "max_new_tokens": 6}
    job = jobs.run_job(jobs.create_job(project, "generate", sampled, base=base, enqueue=False).pk)
    assert job.status == "succeeded", job.error
    mine = Response.objects.filter(metadata__generation_job=job.pk)
    assert mine.count() == 12 and RankingTask.objects.count() == before + 3
    assert {
        (r.metadata["sampling"]["temperature"], r.metadata["sampling"]["top_p"]) for r in mine
    } == {(0.7, 0.9)}
    assert job.metric_series()[-1]["generate/prompts_too_few_distinct"] == 0


def test_evaluation_rankings_stay_out_of_an_rm_jobs_snapshot(
    campaign, base, artifacts, make_task, labeler
):
    """Human evaluations of policies are not reward-model training data unless asked for."""
    from training.snapshots import snapshot_rows

    from .exporting import rank

    evaluation = make_task(k=4, source=RankingTask.Source.EVALUATION)
    rank(evaluation, labeler, [1, 2, 3, 4])
    job = jobs.create_job(campaign, "rm", {}, base=base, enqueue=False)
    task_ids = {row["task_id"] for row in snapshot_rows(job.snapshot)}
    assert len(task_ids) == 16 and evaluation.pk not in task_ids
    assert job.snapshot.options["include_evaluation"] is False
    asked = jobs.create_job(
        campaign, "rm", {}, base=base, snapshot_options={"include_evaluation": True}, enqueue=False
    )
    assert evaluation.pk in {row["task_id"] for row in snapshot_rows(asked.snapshot)}
    assert asked.snapshot.n_rows == job.snapshot.n_rows + 1


def test_a_generate_job_puts_the_least_sure_prompts_to_labelers(
    project, make_task, base, tiny_path, artifacts, tmp_path
):
    """Active selection through the platform: the job samples every prompt of its snapshot,
    keeps those whose samples the reward model scores closest together, and each task
    records the policy and its prompt's spread (which the responses' scores reproduce)."""
    from training.engine.reward import score_responses
    from training.engine.tiny import untrained_reward_model

    for _ in range(5):
        make_task(k=4)
    Prompt.objects.update(split="train")
    folder = untrained_reward_model(tiny_path, tmp_path / "rm")
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(folder))
    config = {"k": 4, "max_new_tokens": 6, "selection": "rm_spread", "select": 2}
    with pytest.raises(jobs.JobError, match="^reward_checkpoint: a generate job with selection"):
        jobs.create_job(project, "generate", config, base=base, enqueue=False)
    with pytest.raises(jobs.JobError, match="^second_reward_checkpoint: only rm_disagreement"):
        jobs.create_job(
            project, "generate", {**config, "second_reward_checkpoint": rm.pk},
            base=base, reward=rm, enqueue=False,
        )  # fmt: skip
    before = set(RankingTask.objects.values_list("pk", flat=True))
    job = jobs.create_job(project, "generate", config, base=base, reward=rm, enqueue=False)
    job = jobs.run_job(job.pk)
    assert job.status == "succeeded", job.error
    chosen = RankingTask.objects.exclude(pk__in=before).prefetch_related("task_responses")
    assert chosen.count() == 2
    for task in chosen:
        assert task.selection_policy == "rm_spread"
        texts = [tr.response.text for tr in task.task_responses.select_related("response")]
        scores = score_responses(rm.path, [task.prompt.text] * len(texts), texts)
        assert task.selection_score == pytest.approx(max(scores) - min(scores), abs=1e-4)
    # only the kept prompts' samples became responses, and no prompt is reported short
    kept = {task.prompt_id for task in chosen}
    generated = Response.objects.filter(metadata__generation_job=job.pk)
    assert set(generated.values_list("prompt_id", flat=True)) == kept
    assert job.metric_series()[-1]["generate/prompts_too_few_distinct"] == 0
