"""A pipeline's rank stage: the ranking tasks the round's generate job made, who ranks them
(simulated labelers at once, the AI labeler in this process, or people, whom the stage waits
for), and how far they are. ``service._check_rank`` records what ``rank`` says."""

from django.db.models import Count

from labeling.errors import ServiceError
from labeling.models import Ranking, RankingTask

from .models import Pipeline, PipelineStage

Kind = PipelineStage.Kind

# How many simulated labelers rank generated tasks (a task takes at most its overlap of them).
SIMULATED_LABELERS = 3


def generated_tasks(pipeline: Pipeline, round_: int):
    """The ranking tasks the round's generate job made: tasks of its prompts created since
    the job first started (a job registers its tasks when it succeeds)."""
    job = pipeline.stages.get(round=round_, kind=Kind.GENERATE).job
    return RankingTask.objects.filter(
        project=pipeline.project,
        source=RankingTask.Source.LABELING,
        prompt_id__in=job.config.get("prompt_ids") or [],
        created_at__gte=job.started_at,
    ).order_by("id")


def rank_progress(tasks) -> dict:
    """{"tasks", "rankings", "open_tasks", "missing"} of a set of tasks: current rankings,
    and how many each task still lacks to reach its overlap."""
    tasks = list(tasks)
    counts = dict(
        Ranking.objects.filter(task__in=tasks, is_current=True)
        .values_list("task")
        .annotate(n=Count("id"))
        .values_list("task", "n")
    )
    lacking = [max(task.overlap - counts.get(task.pk, 0), 0) for task in tasks]
    return {
        "tasks": len(tasks),
        "rankings": sum(counts.values()),
        "open_tasks": sum(1 for n in lacking if n),
        "missing": sum(lacking),
    }


def rank(pipeline: Pipeline, stage: PipelineStage) -> tuple[str | None, dict]:
    """Have the pipeline's labelers rank what they can; (the stage's final status and its
    fields) when it is over, else (None, {"note", "metrics"}) while people still rank."""
    tasks = generated_tasks(pipeline, stage.round)
    if not tasks.exists():
        note = "the generate stage made no ranking tasks (too few distinct responses per prompt)"
        return PipelineStage.Status.FAILED, {"note": note}
    if pipeline.labelers == Pipeline.Labelers.SIMULATED:
        from labeling.demo.simulation import rank_tasks

        options = {"labelers": SIMULATED_LABELERS, "seed": stage.round}
        rank_tasks(pipeline.project, tasks, **(options | (pipeline.config.get("simulation") or {})))
    elif pipeline.labelers == Pipeline.Labelers.AI:
        refusal = _ai_ranks(pipeline, tasks)
        if refusal:
            return PipelineStage.Status.FAILED, {"note": refusal}
    numbers = rank_progress(tasks)
    metrics = {k: float(v) for k, v in numbers.items()}
    if numbers["missing"] == 0:
        return PipelineStage.Status.SUCCEEDED, {"metrics": metrics}
    note = (
        f"waiting for labelers: {numbers['open_tasks']} of {numbers['tasks']} tasks still "
        f"need rankings ({numbers['missing']} rankings missing, {numbers['rankings']} in)"
    )
    return None, {"note": note, "metrics": metrics}


def _ai_ranks(pipeline: Pipeline, tasks) -> str:
    """The AI labeler takes what the assignment engine serves it, in this process (the driver
    is a worker's beat task or run_pipeline, both free to load a model); its judge loads only
    when a task is there, so a stage waiting for people costs a few queries per look. It fills
    one slot of each task: with overlap above 1 the other slots are left to people. Returns
    why it could not rank ("" when it could)."""
    from training.ai_labelers import ai_label

    if rank_progress(tasks)["missing"] == 0:
        return ""
    try:
        ai_label(pipeline.project, pipeline.config["ai_judge"], pipeline.config["ai_labeler"])
    except ServiceError as exc:  # say, the judge's checkpoint was deleted since the start
        return f"AI labeler: {exc.field}: {exc.message}"
    return ""
