"""Sending jobs to the broker: an outbox on the job's row, so a broker outage loses nothing.

A job is committed first, then its message is sent (``transaction.on_commit``). The row
records when it was sent (``sent_at``); a send that fails (Redis down) leaves it null and
the job waiting, and ``send_unsent`` sends it later: every 30 s from beat, and when a
worker starts. Each send claims the row (``SELECT … FOR UPDATE`` of a waiting job not sent
yet) and marks it in the same transaction as the publish, so two senders never both send
it, and a sender that dies before its commit leaves it unsent rather than lost (a message
sent twice would still run once: a job is claimed by a conditional UPDATE).

Requests that would create or requeue a job ask ``require_broker`` first: with the broker
away they are refused with 503 and nothing is written, rather than accepted into a queue
nobody can see. Labeling never needs the broker and never asks.
"""

import logging
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from preflab.celery import app

from .models import TrainingJob

log = logging.getLogger(__name__)

# At most ~1 s of retrying a publish: a request thread waits for it (on_commit), so a broker
# that is down must not hold a response for long; the outbox sends it later.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
RETRY_AFTER_S = 30


class BrokerUnavailable(Exception):
    """The job queue cannot be reached. Not a ServiceError: it is no fault of the request,
    so it is a 503 (api.exceptions, preflab.middleware), never a 400 or a failed stage."""

    def __init__(self, broker: str, reason: str):
        self.broker, self.reason = broker, reason
        super().__init__(
            f"the job queue ({broker}) is unreachable; nothing was created, try again shortly"
        )


def broker_address() -> str:
    """The broker as host:port (no password), for messages."""
    url = urlsplit(app.conf.broker_write_url or app.conf.broker_url or "")
    if url.scheme.startswith("filesystem"):
        return "filesystem broker"
    return f"{url.scheme.capitalize()} at {url.hostname or 'localhost'}:{url.port or 6379}"


def require_broker() -> None:
    """Raise BrokerUnavailable unless the broker answers within about a second."""
    if app.conf.task_always_eager:
        return  # tasks run in this process: no broker involved
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=1)
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(broker_address(), str(exc)) from exc


def _task_for(kind: str):
    from . import tasks

    return tasks.run_generation_job if kind == "generate" else tasks.run_training_job


def send(job_id: int) -> bool:
    """Send a waiting, unsent job's message; True when this call sent it. A broker that
    stays down after the short retry leaves it unsent (a warning, no exception)."""
    if app.conf.task_always_eager:
        # the task runs inline, here: it must not run inside the claim's transaction
        claimed = TrainingJob.objects.filter(
            pk=job_id, status__in=TrainingJob.WAITING, sent_at__isnull=True
        ).update(sent_at=timezone.now())
        if claimed:
            kind = TrainingJob.objects.values_list("kind", flat=True).get(pk=job_id)
            _task_for(kind).delay(job_id)
        return bool(claimed)
    with transaction.atomic():
        job = (
            TrainingJob.objects.select_for_update()
            .filter(pk=job_id, status__in=TrainingJob.WAITING, sent_at__isnull=True)
            .only("kind")
            .first()
        )
        if job is None:  # sent by another sender, cancelled, or already running
            return False
        try:
            _task_for(job.kind).apply_async((job_id,), retry=True, retry_policy=RETRY_POLICY)
        except (OperationalError, OSError) as exc:
            log.warning(
                "job %s: not sent to the job queue (%s): %s; it stays queued and is sent "
                "once the broker is back",
                job_id,
                broker_address(),
                exc,
            )
            return False
        TrainingJob.objects.filter(pk=job_id).update(sent_at=timezone.now())
    return True


def send_unsent() -> list[int]:
    """Send every waiting job whose message was never sent; the ids sent."""
    unsent = TrainingJob.objects.filter(status__in=TrainingJob.WAITING, sent_at__isnull=True)
    sent = []
    for job_id in unsent.order_by("id").values_list("id", flat=True):
        if send(job_id):
            sent.append(job_id)
        elif unsent.filter(pk=job_id).exists():
            break  # the broker is down: the others would fail the same way
    if sent:
        log.info("sent %s queued job(s) held back while the broker was away: %s", len(sent), sent)
    return sent
