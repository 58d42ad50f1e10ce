"""Redis stopped while people work: labeling goes on, starting a job answers 503 and creates
nothing, and a job committed while it was down is sent once it is back, once.

A private ``redis-server`` on a free port is the broker (the shared one is never stopped);
the Celery app is pointed at it for the test. Requests go through Django's test clients,
so the real middleware, exception handler and services answer them.
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import os
import shutil
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection

from labeling.models import Ranking
from training import dispatch, jobs, lifecycle
from training.models import TrainingJob

from .api_world import clients, fast_passwords, world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
ITEMS = [{"rank": r, "likert": 5, "flags": []} for r in (2, 1, 4, 3)]
JOB = {"project": "campaign", "kind": "rm", "config": {}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A throwaway redis-server: no persistence, loopback only, stopped and started at will."""

    def __init__(self):
        if shutil.which("redis-server") is None:
            if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
                pytest.fail("make test needs redis-server for a private broker")
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port)

    def queued(self, queue: str = "training") -> int:
        return self.client().llen(queue)


def point_celery_at(url: str, transport_options: dict) -> None:
    from kombu import pools

    from preflab.celery import app

    # Celery copies the URL into the read and write URLs when it first configures itself
    app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
    app.conf.broker_transport_options = transport_options
    # connections and producers are pooled per app: drop them, or they keep the old broker
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


@pytest.fixture
def broker(settings, tmp_path):
    from preflab.celery import app

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    server = PrivateRedis()
    point_celery_at(server.url, {})
    yield server
    if server.process.poll() is None:
        server.stop()
    point_celery_at(*saved)


def test_labeling_goes_on_and_starting_a_job_is_refused(clients, world, other_labeler, broker):
    failed = TrainingJob.objects.create(project=world["task"].project, kind="sft", status="failed")
    broker.stop()

    omar = clients["other"]
    got = omar.post("/api/v1/tasks/next/", {"project": "campaign"}, format="json")
    assert got.status_code == 200
    submit = {"items": ITEMS, "submission_key": "outage-1", "seconds_spent": 3}
    url = f"/api/v1/tasks/{got.json()['task']['id']}/submit/"
    done = omar.post(url, submit, format="json")
    assert done.status_code == 201, done.json()
    again = omar.post(url, submit, format="json")  # the client's retry: counted once
    assert again.json()["id"] == done.json()["id"]
    assert Ranking.objects.filter(labeler=other_labeler).count() == 1

    started = time.monotonic()
    response = clients["admin"].post("/api/v1/jobs/", JOB, format="json")
    assert time.monotonic() - started < 5  # refused at once, not after a long retry
    assert response.status_code == 503
    assert response["Retry-After"] == str(dispatch.RETRY_AFTER_S)
    detail = response.json()["detail"]
    assert f"127.0.0.1:{broker.port}" in detail and "nothing was created" in detail
    assert not TrainingJob.objects.filter(kind="rm").exists()

    response = clients["admin"].post(f"/api/v1/jobs/{failed.pk}/retry/")
    assert response.status_code == 503
    assert TrainingJob.objects.get(pk=failed.pk).status == "failed"  # nothing moved


def test_the_web_form_answers_a_short_503_page(client, project, admin_user, broker):
    failed = TrainingJob.objects.create(project=project, kind="sft", status="failed")
    client.force_login(admin_user)
    broker.stop()
    response = client.post(f"/dashboard/{project.slug}/jobs/{failed.pk}/retry/")
    assert response.status_code == 503 and response["Retry-After"]
    assert b"job queue" in response.content and b"<h1>Service unavailable" in response.content
    assert TrainingJob.objects.get(pk=failed.pk).status == "failed"


def test_the_train_command_exits_with_the_message(project, broker):
    broker.stop()
    with pytest.raises(CommandError, match=f"127.0.0.1:{broker.port}.*unreachable"):
        call_command("train", "rm", "--project", project.slug)
    assert not TrainingJob.objects.exists()


def test_a_job_committed_while_the_broker_is_down_is_sent_once_it_is_back(world, broker):
    project = world["task"].project
    broker.stop()
    # committed, its send (on commit) fails: a pipeline or a campaign starting a job as Redis
    # goes away; the row stays, queued and unsent
    job = jobs.create_job(project, "rm", {})
    job.refresh_from_db()
    assert (job.status, job.sent_at) == ("queued", None)
    assert dispatch.send_unsent() == []  # still down: nothing sent, nothing lost
    assert TrainingJob.objects.get(pk=job.pk).sent_at is None

    broker.start()  # the same port: the app's broker URL is unchanged
    assert broker.queued() == 0
    assert dispatch.send_unsent() == [job.pk]
    assert broker.queued() == 1
    assert TrainingJob.objects.get(pk=job.pk).sent_at is not None
    # a second sender finds nothing to send
    assert dispatch.send_unsent() == [] and dispatch.send(job.pk) is False
    assert broker.queued() == 1


def test_two_senders_send_a_job_once(world, broker):
    project = world["task"].project
    job = jobs.create_job(project, "rm", {}, enqueue=False)
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=None)  # committed, not sent yet
    results = []

    def sender():
        try:
            results.append(dispatch.send(job.pk))
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert broker.queued() == 1


def test_a_retried_job_is_sent_again_and_a_starting_worker_sends_the_unsent(world, broker):
    from training.tasks import recover_jobs_of_this_worker

    project = world["task"].project
    job = jobs.create_job(project, "rm", {})  # broker up: sent on commit
    assert TrainingJob.objects.get(pk=job.pk).sent_at is not None
    assert broker.queued() == 1
    TrainingJob.objects.filter(pk=job.pk).update(status="failed")
    lifecycle.retry(job)  # a retry is a new wait: its own message
    job.refresh_from_db()
    assert job.status == "retrying" and job.sent_at is not None
    assert broker.queued() == 2

    unsent = jobs.create_job(project, "rm", {}, enqueue=False)
    TrainingJob.objects.filter(pk=unsent.pk).update(sent_at=None)  # committed, not sent yet
    recover_jobs_of_this_worker(sender=SimpleNamespace(hostname="training@h8"))
    assert TrainingJob.objects.get(pk=unsent.pk).sent_at is not None
    assert broker.queued() == 3
