"""What a job reads is frozen when it is created: prompts snapshots for PPO and generation,
the RM's demonstrations, PPO-ptx's corpus; a re-run from the record reads the same inputs.

The inputs are compared as the engine gets them (``job_inputs.INPUTS[kind](job)``), hashed as
JSON.
"""

import hashlib
import json

import pytest

from labeling.models import Demonstration, Project, Prompt
from training import job_inputs, jobs
from training.corpora import import_file
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    # the heartbeat thread's own connection cannot see this test's rows (see test_jobs.py)
    settings.PREFLAB_JOB_HEARTBEAT_S = 3600
    return settings.PREFLAB_ARTIFACTS_DIR


@pytest.fixture
def campaign(project, make_task, labeler, artifacts):
    """12 train + 4 validation prompts, each with a demonstration and a ranking of 4."""
    return fill_campaign(project, make_task, labeler, n=16, validation_every=4)


@pytest.fixture
def checkpoints(tmp_path):
    """Checkpoint rows with folders (jobs here are created and read, never run)."""
    (tmp_path / "sft").mkdir()
    (tmp_path / "rm").mkdir()
    return {
        "sft": Checkpoint.objects.create(name="sft", kind="sft", path=str(tmp_path / "sft")),
        "rm": Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path / "rm")),
    }


@pytest.fixture
def corpus(campaign, tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "The river froze early that year."}\n"Bees dance to talk."\n')
    return import_file(campaign, path, name="news")


def inputs_hash(job) -> str:
    job = TrainingJob.objects.get(pk=job.pk)  # as the worker reads it
    data = json.dumps(job_inputs.INPUTS[job.kind](job), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def make_jobs(project, checkpoints, corpus) -> dict[str, TrainingJob]:
    sft, rm = checkpoints["sft"], checkpoints["rm"]
    ppo_config = {"steps": 2, "ptx_coef": 27.8, "max_prompts": 5}
    return {
        "sft": jobs.create_job(project, "sft", {}, base=sft, enqueue=False),
        "rm": jobs.create_job(project, "rm", {}, base=sft, enqueue=False),
        "ppo": jobs.create_job(
            project, "ppo", ppo_config, base=sft, reward=rm, corpus=corpus, enqueue=False
        ),
        "generate": jobs.create_job(project, "generate", {"k": 4}, base=sft, enqueue=False),
    }


def test_a_rerun_reads_the_same_inputs_after_the_project_grew(
    campaign, make_task, labeler, checkpoints, corpus
):
    originals = make_jobs(campaign, checkpoints, corpus)
    before = {kind: inputs_hash(job) for kind, job in originals.items()}

    # meanwhile: new prompts, each with a demonstration and a ranking
    fill_campaign(campaign, make_task, labeler, n=8, validation_every=4)
    Demonstration.objects.filter(prompt__project=campaign).update(text="rewritten")
    fresh = make_jobs(campaign, checkpoints, corpus)
    # a job created now reads the new data: without freezing, the inputs would drift
    assert all(inputs_hash(fresh[k]) != before[k] for k in ("sft", "rm", "generate"))

    for kind, job in originals.items():
        again = jobs.rerun_job(job, enqueue=False)
        assert again.pk != job.pk and again.rerun_of == job
        assert (again.kind, again.config, again.base_checkpoint) == (
            job.kind,
            job.config,
            job.base_checkpoint,
        )
        assert again.snapshot == job.snapshot
        assert again.demonstrations_snapshot == job.demonstrations_snapshot
        assert again.pretrain_corpus == job.pretrain_corpus
        assert inputs_hash(again) == before[kind], kind
        assert inputs_hash(job) == before[kind], kind  # the original too, if retried


def test_ppo_and_generate_read_a_prompts_snapshot(campaign, checkpoints):
    sft, rm = checkpoints["sft"], checkpoints["rm"]
    ppo = jobs.create_job(campaign, "ppo", {}, base=sft, reward=rm, enqueue=False)
    assert ppo.snapshot.kind == "prompts" and ppo.snapshot.n_rows == 12  # the train split
    assert ppo.snapshot.options["split"] == "train" and ppo.config["ptx_coef"] == 0.0
    assert ppo.pretrain_corpus is None
    inputs = job_inputs.INPUTS["ppo"](ppo)
    train = Prompt.objects.filter(project=campaign, split="train").order_by("id")
    assert inputs == {"prompts": [p.text for p in train]}  # no pretrain_texts: plain PPO

    chosen = list(Prompt.objects.filter(project=campaign, split="validation").values_list("id"))
    chosen = [pk for (pk,) in chosen][:2]
    generate = jobs.create_job(
        campaign, "generate", {"prompt_ids": chosen[::-1]}, base=sft, enqueue=False
    )
    assert generate.snapshot.options["prompt_ids"] == sorted(chosen)
    assert [p.pk for p in job_inputs.job_prompts(generate)] == sorted(chosen)
    limited = jobs.create_job(campaign, "generate", {"max_prompts": 3}, base=sft, enqueue=False)
    assert limited.snapshot.n_rows == 3 and limited.snapshot.options["limit"] == 3


def test_rm_freezes_the_demonstrations_it_normalises_with(campaign, checkpoints):
    rm = jobs.create_job(campaign, "rm", {}, base=checkpoints["sft"], enqueue=False)
    frozen = rm.demonstrations_snapshot
    assert frozen.kind == "demonstrations" and frozen.n_rows == 12
    assert frozen.options["split"] == "train"
    demonstrations = job_inputs.INPUTS["rm"](rm)["demonstrations"]
    assert {row["completion"] for row in demonstrations} == {
        f"good answer {i}" for i in range(16) if i % 4
    }


def test_a_run_refuses_snapshot_files_changed_since(campaign, checkpoints):
    import os

    from training.snapshots import data_path

    job = jobs.create_job(campaign, "generate", {}, base=checkpoints["sft"], enqueue=False)
    path = data_path(job.snapshot)
    os.chmod(path, 0o644)
    path.write_text('{"prompt": "something else", "prompt_id": 1}\n')
    with pytest.raises(jobs.JobError, match="snapshot: snapshot .* missing or changed"):
        job_inputs.INPUTS["generate"](job)


@pytest.mark.parametrize(
    "kind, config, with_corpus, message",
    [
        ("ppo", {"ptx_coef": 27.8}, False, "pretrain_corpus: ptx_coef 27.8 needs a pretraining"),
        ("ppo", {}, True, "pretrain_corpus: set ptx_coef > 0 to use"),
        ("ppo", {"ptx_coef": -1}, False, "ptx_coef: expected a number >= 0"),
        ("ppo", {"ptx_coef": "lots"}, False, "ptx_coef: expected a number >= 0"),
        ("sft", {}, True, "pretrain_corpus: only PPO jobs take a pretraining corpus"),
    ],
)
def test_ptx_needs_a_corpus_and_a_coefficient(
    campaign, checkpoints, corpus, kind, config, with_corpus, message
):
    reward = checkpoints["rm"] if kind == "ppo" else None
    with pytest.raises(jobs.JobError, match=message):
        jobs.create_job(
            campaign,
            kind,
            config,
            base=checkpoints["sft"],
            reward=reward,
            corpus=corpus if with_corpus else None,
            enqueue=False,
        )
    assert not TrainingJob.objects.exists()


def test_a_corpus_of_another_project_is_refused(campaign, checkpoints, tmp_path):
    other = Project.objects.create(slug="other", name="Other")
    path = tmp_path / "other.txt"
    path.write_text("A document.\n")
    corpus = import_file(other, path)
    with pytest.raises(jobs.JobError, match="pretrain_corpus: belongs to another project"):
        jobs.create_job(
            campaign,
            "ppo",
            {"ptx_coef": 1.0},
            base=checkpoints["sft"],
            reward=checkpoints["rm"],
            corpus=corpus,
            enqueue=False,
        )


@pytest.mark.training
def test_ppo_ptx_runs_on_the_tiny_model_and_reports_the_ptx_loss(campaign, corpus, tmp_path):
    import torch

    from training.engine.reward import load_reward_model
    from training.engine.tiny import tiny_model_dir

    tiny = tiny_model_dir(tmp_path / "models" / "tiny")
    # an untrained reward head on the tiny model: enough to run PPO, learning is not the point
    load_reward_model(tiny).save_pretrained(tmp_path / "rm-model")
    base = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny))
    rm = Checkpoint.objects.create(name="rm", kind="rm", path=str(tmp_path / "rm-model"))
    config = {"steps": 2, "rollouts_per_step": 4, "mini_batch_size": 4, "ppo_epochs": 1,
              "response_length": 8, "max_prompt_length": 32, "ptx_coef": 27.8,
              "ptx_batch_size": 2, "ptx_max_length": 16}  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model's ops are too small to share between threads
    try:
        job = jobs.create_job(
            campaign, "ppo", config, base=base, reward=rm, corpus=corpus, enqueue=False
        )
        job = jobs.run_job(job.pk)
    finally:
        torch.set_num_threads(threads)
    assert job.status == "succeeded", job.error
    last = job.metric_series()[-1]
    assert last["ptx/loss"] > 0 and "objective/kl" in last
