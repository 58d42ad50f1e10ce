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
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from labeling.models import Demonstration, Prompt, RankingTask, Response
from labeling.rankings import ItemInput, record_ranking
from training import jobs
from training.models import Checkpoint, TrainingJob

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"sft": {"epochs": 1, "batch_size": 4, "max_length": 64, "learning_rate": 1e-3}}


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    from training.engine.tiny import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.PREFLAB_ARTIFACTS_DIR


@pytest.fixture
def base(db, tiny_path):
    return Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))


@pytest.fixture
def campaign(project, make_task, labeler):
    """12 train + 4 validation prompts, each with a demonstration and a ranking of 4."""
    for i in range(16):
        task = make_task(k=4, texts=[f"good answer {i}", "meh", "bad", "worst"])
        task.prompt.split = "validation" if i % 4 == 0 else "train"
        task.prompt.save(update_fields=["split"])
        Demonstration.objects.create(
            prompt=task.prompt, author=labeler, text=f"good answer {i}", status="accepted"
        )
        record_ranking(task, labeler, [ItemInput(rank=r) for r in (1, 2, 3, 4)])
    return project


@pytest.mark.training
def test_sft_then_reward_then_ppo_then_generate(campaign, base, artifacts):
    sft_job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    assert sft_job.snapshot.kind == "demonstrations" and sft_job.snapshot.n_rows == 16
    sft_job = jobs.run_job(sft_job.pk)
    assert sft_job.status == "succeeded", sft_job.error
    assert sft_job.progress == 1.0 and sft_job.metrics and "train/loss" in sft_job.log_tail
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
    assert {"objective/kl", "objective/rlhf_reward"} <= set(ppo_job.metrics[-1])

    # The loop closes: the policy's samples become new ranking tasks for labelers.
    before = RankingTask.objects.count()
    gen = jobs.create_job(
        campaign, "generate", {"k": 4, "max_new_tokens": 6, "max_prompts": 3},
        base=ppo_job.output_checkpoint, enqueue=False,
    )  # fmt: skip
    gen = jobs.run_job(gen.pk)
    assert gen.status == "succeeded", gen.error
    new = Response.objects.filter(origin="checkpoint", checkpoint=ppo_job.output_checkpoint)
    assert new.count() >= 3
    # Random tiny-model samples of 6 tokens are all distinct: K = 4 responses, one task each.
    assert RankingTask.objects.count() == before + 3
    assert gen.metrics[-1]["step"] >= 1


def test_bad_config_names_the_key_and_writes_nothing(campaign, base, artifacts):
    with pytest.raises(jobs.JobError, match="no_such_option"):
        jobs.create_job(campaign, "sft", {"no_such_option": 1}, base=base, enqueue=False)
    assert TrainingJob.objects.count() == 0
    with pytest.raises(jobs.JobError, match="reward: a PPO job needs"):
        jobs.create_job(campaign, "ppo", {}, base=base, enqueue=False)


def test_a_job_is_claimed_once_and_cancel_is_honoured(campaign, base, artifacts):
    job = jobs.create_job(campaign, "sft", SMALL["sft"], base=base, enqueue=False)
    assert jobs.claim(job.pk, "w1") is True
    assert jobs.claim(job.pk, "w2") is False
    job.refresh_from_db()
    assert job.status == "running" and job.worker == "w1"
    assert jobs.run_job(job.pk, "w3").worker == "w1"  # not run a second time
    assert jobs.cancel_job(job) is True
    job.refresh_from_db()
    assert job.status == "cancelled"
    # A cancelled job is not picked up; requeued, it runs (and resumes its folder).
    assert jobs.run_job(job.pk).status == "cancelled"


@pytest.mark.training
def test_cancel_while_running_stops_the_engine(campaign, base, artifacts):
    config = dict(SMALL["sft"], epochs=50)
    job = jobs.create_job(campaign, "sft", config, base=base, enqueue=False)
    recorder_flush = jobs.ProgressRecorder.flush

    def cancel_on_first_flush(self, progress=None):
        TrainingJob.objects.filter(pk=self.job.pk).update(status="cancelled")
        return recorder_flush(self, progress)

    jobs.ProgressRecorder.flush = cancel_on_first_flush
    try:
        job = jobs.run_job(job.pk)
    finally:
        jobs.ProgressRecorder.flush = recorder_flush
    assert job.status == "cancelled" and job.output_checkpoint is None
    assert job.progress < 1.0


def test_job_enqueued_only_after_commit(
    campaign, base, artifacts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.create_job(campaign, "sft", SMALL["sft"], base=base)
    assert len(callbacks) == 1


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_generate_job_runs_on_a_real_worker(project, make_task, tiny_path, tmp_path):
    """create_job → on_commit → broker → worker process → responses and tasks in the database."""
    broker = settings.CELERY_BROKER_URL
    if connection.vendor != "postgresql" or not broker.startswith("redis://"):
        if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
            pytest.fail("make test must run this on PostgreSQL + Redis")
        pytest.skip("needs the PostgreSQL + Redis setup of `make test`")
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
        assert job.worker.startswith("celery@")
        assert Response.objects.filter(origin="checkpoint").count() == 8
        assert RankingTask.objects.filter(source="labeling").count() == 4
        assert json.dumps(job.metrics)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
