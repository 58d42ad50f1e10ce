"""`manage.py train dpo`: a DPO job reads a frozen rankings snapshot, starts from a checkpoint
and registers a policy checkpoint whose parent is that checkpoint."""

import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from training import jobs
from training.lineage import project_lineage
from training.models import Checkpoint, JobMetric, TrainingJob

from .test_run_pipeline import start_worker
from .training_world import fill_campaign

TINY_DPO = ["--set", "rankings_per_batch=2", "--set", "lr=1e-3", "--set", "max_length=32"]


@pytest.fixture
def world(project, make_task, labeler, settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    fill_campaign(project, make_task, labeler, n=8, validation_every=4)
    return project


@pytest.mark.django_db
def test_a_bad_dpo_config_is_refused_before_a_job_exists(world, tiny_path):
    sft = Checkpoint.objects.create(name="sft", kind="sft", path=str(tiny_path))
    out = StringIO()
    args = ["train", "dpo", "--project", world.slug, "--base", str(sft.pk), "--run-here"]
    with pytest.raises(CommandError, match="beta: must be > 0"):
        call_command(*args, "--set", "beta=0", stdout=out)
    with pytest.raises(jobs.JobError) as refused:
        jobs.create_job(world, "dpo", {"loss_type": "hinge"}, base=sft, enqueue=False)
    assert refused.value.field == "config" and "loss_type" in refused.value.message
    with pytest.raises(jobs.JobError, match="processes: DPO runs in one process"):
        jobs.create_job(world, "dpo", {"processes": 2}, base=sft, enqueue=False)
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(tiny_path))
    with pytest.raises(jobs.JobError, match="reward_checkpoint: only PPO, evaluate, best-of-n"):
        jobs.create_job(world, "dpo", {}, base=sft, reward=rm, enqueue=False)
    with pytest.raises(jobs.JobError, match="a dpo job needs one of: base, sft, policy"):
        jobs.create_job(world, "dpo", {}, base=rm, enqueue=False)
    assert not TrainingJob.objects.exists()


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_train_dpo_runs_on_a_real_worker_and_registers_a_policy(
    real_services, world, tiny_path, tmp_path
):
    sft = Checkpoint.objects.create(name="sft", kind="sft", path=str(tiny_path))
    worker = start_worker(tmp_path / "artifacts")
    out = StringIO()
    try:
        args = ["train", "dpo", "--project", world.slug, "--base", str(sft.pk), *TINY_DPO]
        call_command(*args, stdout=out)
        job = TrainingJob.objects.get()
        assert out.getvalue().strip() == f"job {job.pk} (dpo) queued"
        deadline = time.monotonic() + 300
        while job.status not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            job.refresh_from_db()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert job.status == "succeeded", (job.status, job.error)
    assert job.worker.startswith("celery@")
    # trained on the frozen rankings: 6 train, 2 validation (every 4th prompt)
    assert job.snapshot.kind == "rankings" and job.snapshot.n_rows == 8
    policy = job.output_checkpoint
    assert policy.kind == "policy" and policy.parent == sft and policy.snapshot == job.snapshot
    assert (Path(policy.path) / "config.json").is_file()  # a causal-LM folder
    # the engine's numbers, a row per optimizer step (3 of 2 rankings), eval at the end
    rows = list(JobMetric.objects.filter(job=job).order_by("step"))
    assert [row.step for row in rows] == [1, 2, 3]
    for name in ("train/loss", "rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert all(name in row.values for row in rows), name
    assert "eval/accuracy" in rows[-1].values and "eval/accuracy" in policy.metrics
    # the models page: a policy node, its base and its rankings snapshot pointing to it
    graph = project_lineage(world)
    node = next(n for n in graph["nodes"] if n["id"] == f"checkpoint-{policy.pk}")
    assert node["kind"] == "policy" and "eval/accuracy" in node["metrics"]
    sources = {e["source"] for e in graph["edges"] if e["target"] == node["id"]}
    assert sources == {f"checkpoint-{sft.pk}", f"snapshot-{job.snapshot_id}"}
