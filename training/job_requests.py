"""Starting a job or a pipeline from a request's validated data: the API's POST and the
training console's form both come through here, after the same serializers parsed the data
(``api.serializers.TrainingJobSerializer``, ``api.pipeline_serializers.
PipelineCreateSerializer``), so a job started from the web is checked exactly as one started
from the API. The caller checks that the user is an admin of the project first."""

from collections.abc import Mapping


def start_job(data: Mapping, user):
    """A queued job (enqueued on commit) from TrainingJobSerializer's validated data.
    ``jobs.create_job`` validates the config against the engine and raises JobError naming
    the field; ExportError names a snapshot option."""
    from training import dispatch, jobs

    # a job accepted while the queue is down would wait unseen: refused (503), nothing written
    dispatch.require_broker()
    return jobs.create_job(
        data["project"],
        data["kind"],
        data.get("config") or {},
        base=data.get("base_checkpoint"),
        reward=data.get("reward_checkpoint"),
        snapshot=data.get("snapshot"),
        snapshot_options=data.get("snapshot_options"),
        corpus=data.get("pretrain_corpus"),
        user=user,
    )


def start_pipeline(data: Mapping, user):
    """A running pipeline from PipelineCreateSerializer's validated data, its first stage's
    job queued (after commit). Refusals are PipelineError naming the field."""
    from pipelines import service
    from training import dispatch

    dispatch.require_broker()  # before the pipeline's row: a 503 then means nothing was made
    pipeline = service.start_pipeline(
        data["project"],
        labelers=data["labelers"],
        rounds=data["rounds"],
        base=data.get("base"),
        config=data.get("config") or {},
        user=user,
    )
    return service.advance(pipeline)
