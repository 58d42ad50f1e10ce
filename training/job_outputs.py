"""What each job kind registers when it succeeds, inside the transaction that marks it
succeeded (``lifecycle.succeed``): a checkpoint, generated responses and their ranking tasks,
or best-of-n's kept answers. ``OUTPUTS[kind](job, config, result)``."""

import logging

from labeling.intake.ranking_tasks import create_ranking_task
from labeling.models import Demonstration, Response

from .job_inputs import job_prompts
from .joblog import LogTail
from .jobs import OUTPUT_KIND
from .models import Checkpoint, JobMetric, TrainingJob
from .runner import is_number
from .signals import responses_generated

log = logging.getLogger(__name__)
# the user best-of-n's kept answers are demonstrations of (no password: cannot log in)
BEST_OF_N_AUTHOR = "best-of-n"


def register_checkpoint(job, config, result) -> Checkpoint:
    return Checkpoint.objects.create(
        name=f"{job.project.slug}-{job.kind}-job{job.pk}",
        kind=OUTPUT_KIND[job.kind],
        path=result["output_dir"],
        parent=job.base_checkpoint,
        snapshot=job.snapshot,
        metrics=final_metrics(result),
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

    prompts = job_prompts(job)
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
        _mark_checkpoint(response, job)
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


def _mark_checkpoint(response: Response, job) -> None:
    if response.checkpoint_id is None and job.base_checkpoint_id:
        response.checkpoint_id = job.base_checkpoint_id
        response.save(update_fields=["checkpoint_id"])


def _record_distinct(job, project, k: int, distinct: dict[int, int]) -> None:
    """How many distinct responses the prompts got: ``generate/distinct_per_prompt`` (mean)
    and ``generate/prompts_too_few_distinct`` (below ``k_min``, so no task) join the job's
    final metrics, and the prompt ids left without a task are named in its log tail (shown
    by ``manage.py job show`` and the API). Runs in the transaction that marks it succeeded."""
    too_few = sorted(pk for pk, n in distinct.items() if n < project.k_min)
    values = {
        "generate/distinct_per_prompt": sum(distinct.values()) / max(len(distinct), 1),
        "generate/prompts_too_few_distinct": float(len(too_few)),
    }
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
    _record_summary(job, values, line)


def _record_summary(job, values: dict, line: str) -> None:
    """``values`` join the job's last metric row (its final numbers), ``line`` its log tail."""
    last = JobMetric.objects.filter(job_id=job.pk).order_by("-step").first()
    if last is None:
        JobMetric.objects.create(job_id=job.pk, step=0, values=values)
    else:
        last.values = {**last.values, **values}
        last.save(update_fields=["values"])
    stored = TrainingJob.objects.filter(pk=job.pk).values_list("log_tail", flat=True).first()
    tail = LogTail(stored or "")
    tail.add(line)
    TrainingJob.objects.filter(pk=job.pk).update(log_tail=tail.text())


def register_best_of_n(job, config, rows) -> None:
    """Best-of-n's kept answers, one per prompt, registered twice:

    - as a Response of model ``best-of-N(<policy>)`` (origin checkpoint, the policy's), so an
      evaluation campaign can take the model name as a contestant; no ranking task is made;
    - as an accepted Demonstration by the ``best-of-n`` account, for the next SFT round
      (Llama 2's iterated rejection sampling). A prompt has at most one: a later best-of-n job
      replaces the answer of an earlier one (the earlier job's snapshots keep what it was).

    A kept text the prompt already has (a generate job sampled it too) stays that one
    response, under its first model name; how many did is in the job's log tail.
    """
    from labeling.intake.imported_rankings import source_labeler
    from labeling.intake.responses import get_or_create_response

    prompts = job_prompts(job)
    author = source_labeler(BEST_OF_N_AUTHOR)
    note = f"kept by best-of-n job {job.pk}"
    shared = 0
    for prompt, row in zip(prompts, rows, strict=True):
        text = row["response"].strip()
        details = {"score": row["score"], "n": row["n"], "scores": row["scores"]}
        metadata = {"best_of_n_job": job.pk, **details, "sampling": row.get("sampling") or {}}
        response = get_or_create_response(
            prompt,
            row["response"] or "(empty response)",
            model_name=row["model"],
            origin=Response.Origin.CHECKPOINT,
            metadata=metadata,
        )
        _mark_checkpoint(response, job)
        shared += response.model_name != row["model"]
        if text:  # an empty sample answers nothing: it teaches SFT nothing either
            Demonstration.objects.update_or_create(
                prompt=prompt,
                author=author,
                defaults={
                    "text": text,
                    "status": Demonstration.Status.ACCEPTED,
                    "review_note": f"{note} (reward {row['score']:.4g}, best of {row['n']})",
                },
            )
    scores = [row["score"] for row in rows]
    values = {"best_of_n/kept_score_mean": sum(scores) / max(len(scores), 1)}
    line = (
        f"best-of-n: {len(rows)} prompts, best of {config.n}, kept as model "
        f"{rows[0]['model'] if rows else config.model_name!r} and as demonstrations by "
        f"{BEST_OF_N_AUTHOR}; {shared} kept texts were already responses of another model"
    )
    _record_summary(job, values, line)
    return None


OUTPUTS = {
    "sft": register_checkpoint,
    "rm": register_checkpoint,
    "ppo": register_checkpoint,
    "dpo": register_checkpoint,
    "generate": register_generated,
    # an evaluation registers nothing: its numbers are the job's metrics (the last step's row)
    "evaluate": lambda job, config, result: None,
    "best_of_n": register_best_of_n,
}


def final_metrics(result: dict) -> dict:
    metrics = result.get("metrics", result)
    return {k: v for k, v in metrics.items() if is_number(v)}
