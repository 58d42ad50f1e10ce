"""Pipelines: the whole loop on a real worker, and the state machine without one.

The integration test drives ``run_pipeline --labelers simulated`` on a small marker-word
project with the tiny model: SFT → generate → rank (simulated) → RM → PPO → evaluate, every
job run by a Celery worker process, and checks the lineage and that the reward model learned
the simulated labelers' preference.
"""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from pipelines.models import Pipeline
from training.models import Checkpoint, TrainingJob

from .pipeline_world import TINY_STAGES, marker_project

ROOT = Path(__file__).resolve().parent.parent


def start_worker(tmp_path):
    db = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PREFLAB_ARTIFACTS_DIR=str(tmp_path),
        # the tiny model's ops are too small to split: one thread is much faster on a shared CPU
        OMP_NUM_THREADS="1",
    )
    from preflab.celery import app

    app.control.purge()
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "preflab", "worker", "--pool", "solo",
         "--queues", "training,generation", "--loglevel", "WARNING", "--without-heartbeat",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_run_pipeline_with_simulated_labelers_on_a_real_worker(
    real_services, tiny_path, tmp_path, settings
):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path
    project = marker_project()
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    config = tmp_path / "stages.json"
    config.write_text(json.dumps(TINY_STAGES))
    worker = start_worker(tmp_path)
    out = StringIO()
    try:
        call_command(
            "run_pipeline", "--project", project.slug, "--labelers", "simulated",
            "--base", str(base.pk), "--config", str(config), "--json", "--poll", "0.5",
            "--timeout", "900", stdout=out,
        )  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    result = json.loads(out.getvalue())
    stages = {stage["kind"]: stage for stage in result["stages"]}
    assert [s["kind"] for s in result["stages"]] == [
        "sft", "generate", "rank", "rm", "ppo", "evaluate"
    ]  # fmt: skip
    assert all(s["status"] == "succeeded" for s in result["stages"]), result
    assert Pipeline.objects.get(pk=result["pipeline"]).status == "succeeded"
    for stage in result["stages"]:
        if stage["kind"] != "rank":
            job = TrainingJob.objects.get(pk=stage["job"])
            assert job.status == "succeeded" and job.worker.startswith("celery@")

    # lineage: SFT from the base; RM and PPO from SFT; PPO against this pipeline's RM
    sft, rm, ppo = (
        stages["sft"]["checkpoint"],
        stages["rm"]["checkpoint"],
        stages["ppo"]["checkpoint"],
    )
    assert stages["sft"]["parent"] == base.pk
    assert stages["generate"]["parent"] == sft
    assert stages["rm"]["parent"] == sft and Checkpoint.objects.get(pk=rm).parent_id == sft
    assert stages["ppo"]["parent"] == sft and stages["ppo"]["reward_model"] == rm
    policy = Checkpoint.objects.get(pk=ppo)
    assert policy.kind == "policy" and policy.parent_id == sft
    ppo_job = TrainingJob.objects.get(pk=stages["ppo"]["job"])
    assert ppo_job.config["reward_model"] == Checkpoint.objects.get(pk=rm).path
    assert stages["evaluate"]["parent"] == ppo and stages["evaluate"]["reward_model"] == rm

    # the simulated labelers ranked every generated task, and the RM learned their rule
    assert stages["generate"]["metrics"]["generate/tasks"] >= 50
    rank = stages["rank"]["metrics"]
    assert rank["missing"] == 0 and rank["rankings"] == 2 * rank["tasks"]
    assert stages["rm"]["metrics"]["eval/accuracy"] > 0.6, stages["rm"]["metrics"]
    # PPO's gain by the RM is recorded, during training and by the evaluation
    assert "ppo/score_gain" in stages["ppo"]["metrics"]
    evaluation = stages["evaluate"]["metrics"]
    for key in ("eval/mean_reward_policy", "eval/mean_reward_parent", "eval/reward_gain"):
        assert isinstance(evaluation[key], float)
    assert 0 <= evaluation["eval/win_rate"] <= 1
    assert evaluation["eval/reward_gain"] == pytest.approx(
        evaluation["eval/mean_reward_policy"] - evaluation["eval/mean_reward_parent"]
    )
