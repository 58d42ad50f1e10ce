"""What each job kind reads: the engine's inputs, from the job's frozen snapshots only.

A job never reads the live tables for its data, so a re-run from its record reads the same
inputs (``training.jobs.rerun_job``). ``INPUTS[kind](job)`` is the keyword arguments of the
kind's engine entry point besides its config and callback (``training.engine.registry``).
"""

from labeling.models import Prompt

from .jobs import JobError


def snapshot_split(job, split: str) -> list[dict]:
    from training.snapshots import snapshot_rows

    return [row for row in snapshot_rows(job.snapshot) if row.get("split") == split]


def frozen_rows(snapshot, field: str) -> list[dict]:
    from training.snapshots import snapshot_rows, verify_snapshot

    # a snapshot is the job's record of its inputs: files changed or lost since would make
    # a run (or a re-run) read something else, so they are refused
    if not verify_snapshot(snapshot):
        raise JobError(field, f"snapshot {snapshot.pk}'s files are missing or changed")
    return list(snapshot_rows(snapshot))


def job_prompts(job) -> list[Prompt]:
    """The Prompt rows of the job's prompts snapshot, in its order."""
    ids = [row["prompt_id"] for row in frozen_rows(job.snapshot, "snapshot")]
    prompts = Prompt.objects.in_bulk(ids)
    missing = [pk for pk in ids if pk not in prompts]
    if missing:
        raise JobError("prompts", f"prompts deleted since the snapshot: {missing[:10]}")
    return [prompts[pk] for pk in ids]


def sft_inputs(job) -> dict:
    train, validation = snapshot_split(job, "train"), snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no demonstrations in the train split")
    return {"train_rows": train, "eval_rows": validation or None}


def ranking_inputs(job) -> dict:
    """The train split's rankings to learn from, the validation split's for eval/accuracy:
    the reward model's and DPO's, so their accuracies are measured on the same rankings."""
    train, validation = snapshot_split(job, "train"), snapshot_split(job, "validation")
    if not train:
        raise JobError("snapshot", "no rankings in the train split")
    return {"train_rows": train, "eval_rows": validation or None}


def reward_inputs(job) -> dict:
    inputs = ranking_inputs(job)
    demonstrations = []
    if job.demonstrations_snapshot is not None:
        demonstrations = frozen_rows(job.demonstrations_snapshot, "demonstrations_snapshot")
    return inputs | {"demonstrations": demonstrations or None}


def prompt_inputs(job) -> dict:
    if job.snapshot is None:
        raise JobError("snapshot", "the job froze no prompts (made before prompts snapshots)")
    prompts = [row["prompt"] for row in frozen_rows(job.snapshot, "snapshot")]
    if not prompts:
        raise JobError("prompts", "the job's prompts snapshot is empty")
    return {"prompts": prompts}


def ppo_inputs(job) -> dict:
    inputs = prompt_inputs(job)
    if job.pretrain_corpus_id and job.config.get("ptx_coef", 0) > 0:
        from training.corpora import corpus_texts

        inputs["pretrain_texts"] = corpus_texts(job.pretrain_corpus)
    return inputs


INPUTS = {
    "sft": sft_inputs,
    "rm": reward_inputs,
    "ppo": ppo_inputs,
    "dpo": ranking_inputs,
    "generate": prompt_inputs,
    "evaluate": prompt_inputs,
    "best_of_n": prompt_inputs,
}
