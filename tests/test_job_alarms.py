"""PPO's reward-hacking alarms on the platform: read from the job's metric series, shown by
the API and `job show`; a gold RM is named by its checkpoint id."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from training import jobs
from training.models import Checkpoint, JobMetric, TrainingJob

from .api_world import clients  # noqa: F401 - the fixture


@pytest.fixture
def alarmed(project):
    job = TrainingJob.objects.create(project=project, kind="ppo", config={"kl_alarm": 5.0})
    JobMetric.objects.create(job=job, step=1, values={"objective/kl": 1.0})
    JobMetric.objects.create(
        job=job,
        step=2,
        values={"objective/kl": 6.5, "alarm/kl": 6.5, "alarm/length": 1.8},
    )
    JobMetric.objects.create(
        job=job, step=3, values={"objective/kl": 7.0, "watch/stopped_at_step": 3.0}
    )
    return job


def test_alarms_are_read_from_the_metric_series(alarmed):
    alarms = alarmed.alarms()
    assert [(a["step"], a["kind"]) for a in alarms] == [(2, "kl"), (2, "length"), (3, "stopped")]
    kl = alarms[0]
    assert kl["value"] == 6.5 and "alarm above 5" in kl["message"]  # the job's own threshold
    assert "1.80× the SFT model's length (alarm above 1.5×)" in alarms[1]["message"]
    assert TrainingJob(kind="rm").alarms() == []


def test_the_api_and_job_show_carry_them(alarmed, clients, reviewer):  # noqa: F811
    detail = clients["reviewer"].get(f"/api/v1/jobs/{alarmed.pk}/").json()
    assert [a["kind"] for a in detail["alarms"]] == ["kl", "length", "stopped"]
    out = StringIO()
    call_command("job", "show", str(alarmed.pk), stdout=out)
    assert "alarms:\n  step 2: KL to the SFT model is 6.5 nats" in out.getvalue()
    out = StringIO()
    call_command("job", "show", str(alarmed.pk), "--json", stdout=out)
    assert json.loads(out.getvalue())["alarms"][2]["kind"] == "stopped"


def test_a_gold_reward_model_is_named_by_checkpoint(project, make_task, tmp_path):
    make_task()  # a train prompt for PPO to sample
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path))
    policy = Checkpoint.objects.create(name="p", kind="sft", path=str(tmp_path))
    config = {"gold_reward_checkpoint": rm.pk, "gold_reward_model": "/etc"}
    made = jobs.create_job(project, "ppo", config, base=policy, reward=rm, enqueue=False)
    assert made.config["gold_reward_model"] == rm.path  # the platform's, not the caller's
    for bad, message in ((policy.pk, "is a sft checkpoint"), (10**6, "no checkpoint")):
        with pytest.raises(jobs.JobError, match=f"^gold_reward_checkpoint: .*{message}"):
            jobs.create_job(
                project, "ppo", {"gold_reward_checkpoint": bad}, base=policy, reward=rm,
                enqueue=False,
            )  # fmt: skip
    with pytest.raises(jobs.JobError, match="^gold_reward_checkpoint: only PPO"):
        jobs.create_job(project, "sft", {"gold_reward_checkpoint": rm.pk}, enqueue=False)
