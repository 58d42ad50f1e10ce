"""Jobs survive a killed worker: real Celery workers, SIGKILL, a new worker, on Redis and on the
embedded filesystem broker; and a job trained by 2 processes under `accelerate launch`.

Each worker is a real `celery worker` process with its pool (prefork, one fresh process per
job), started in a process group of its own so that SIGKILL reaches main and pool processes
at once, as the OOM killer or `docker kill` would. Jobs are queued by `manage.py train`, as a
user would queue them.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from training import jobs
from training.models import Checkpoint, TrainingJob

from .training_world import fill_campaign

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.slow,
    pytest.mark.training,
    pytest.mark.django_db(transaction=True),
]


def require_services():
    if connection.vendor != "postgresql":
        if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
            pytest.fail("make test must run this on PostgreSQL")
        pytest.skip("a worker process shares the database: needs PostgreSQL")


def broker_env(kind: str, tmp_path) -> dict:
    require_services()
    if kind == "redis":
        url = settings.CELERY_BROKER_URL
        if not url.startswith("redis://"):
            if os.environ.get("PREFLAB_REQUIRE_SERVICES") == "1":
                pytest.fail("make test must run this on Redis")
            pytest.skip("needs the Redis of `make test`")
        from preflab.celery import app

        app.control.purge()
        return {"CELERY_BROKER_URL": url}
    # the embedded default: no broker URL, the filesystem transport under PREFLAB_VAR_DIR
    return {"CELERY_BROKER_URL": None}


def worker_env(broker: dict, tmp_path, settings) -> dict:
    db = settings.DATABASES["default"]
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    values = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PREFLAB_ARTIFACTS_DIR=str(settings.PREFLAB_ARTIFACTS_DIR),
        PREFLAB_VAR_DIR=str(tmp_path / "var"),
        PREFLAB_JOB_HEARTBEAT_S="1",
        PREFLAB_MAX_PROCESSES="2",
        OMP_NUM_THREADS="1",
    )
    values.update(broker)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture(params=["redis", "filesystem"])
def env(request, tmp_path, settings):
    return worker_env(broker_env(request.param, tmp_path), tmp_path, settings)


@pytest.fixture
def redis_env(tmp_path, settings):
    return worker_env(broker_env("redis", tmp_path), tmp_path, settings)


@pytest.fixture
def campaign(project, labeler, make_task, tiny_path):
    """32 train + 4 validation prompts with a demonstration and a ranking of 4 each."""
    Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    return fill_campaign(project, make_task, labeler, n=36, validation_every=9)


# How docker-compose runs its job worker (prefork on Redis: a fresh pool process per job),
# and how runplatform runs it on the embedded default (the worker process runs the job).
POOLS = {
    "redis": ["--concurrency", "1", "--max-tasks-per-child", "1"],
    "filesystem": ["--pool", "solo"],
}


class Worker:
    """`celery worker` for the job queues, as docker-compose or runplatform starts it."""

    def __init__(self, env: dict, name: str):
        self.env, self.name, self.process = env, name, None
        self.pool = POOLS["redis" if "CELERY_BROKER_URL" in env else "filesystem"]

    def start(self):
        command = [
            sys.executable, "-m", "celery", "-A", "preflab", "worker", "--hostname", self.name,
            "--queues", "training,generation", *self.pool, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        return self

    def pool_processes(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True)
        return [int(pid) for pid in found.stdout.split()]

    def kill(self):
        """SIGKILL to the main process and its pool at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_alive(self.process.pid), "the worker's pool outlived SIGKILL"

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 0


def queue(env, *args) -> TrainingJob:
    """`manage.py train ...` in its own process; returns the job it queued."""
    base = str(Checkpoint.objects.get(name="tiny").pk)
    done = subprocess.run(
        [sys.executable, "manage.py", *args, "--project", "campaign", "--base", base],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = int(done.stdout.split()[1])  # "job N (kind) queued"
    return TrainingJob.objects.get(pk=job_id)


def wait_for(predicate, what: str, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def saved_state(job) -> bool:
    job.refresh_from_db()
    state = jobs.job_dir(job) / "model" / "state" / "state.json"
    return job.status == "running" and state.exists()


def finished(*watched) -> bool:
    for job in watched:
        job.refresh_from_db()
    return all(job.status in TrainingJob.FINISHED for job in watched)


def rm_checkpoint(project) -> Checkpoint:
    rm = jobs.create_job(
        project, "rm", {"lr": 1e-3, "max_length": 48}, base=Checkpoint.objects.get(name="tiny"),
        enqueue=False,
    )  # fmt: skip
    rm = jobs.run_job(rm.pk)
    assert rm.status == "succeeded", rm.error
    return rm.output_checkpoint


JOBS = {
    # 32 rankings, one a step, 8 epochs: 256 steps; a save every 5
    "rm": (["rm", "--set", "lr=1e-3", "--set", "rankings_per_batch=1", "--set", "epochs=8",
            "--set", "max_length=48", "--set", "save_every=5"], 256),
    "ppo": (["ppo", "--set", "steps=60", "--set", "rollouts_per_step=4",
             "--set", "mini_batch_size=4", "--set", "ppo_epochs=1", "--set", "response_length=8",
             "--set", "max_prompt_length=32", "--set", "save_every=3"], 60),
}  # fmt: skip


@pytest.mark.parametrize("kind", ["rm", "ppo"])
def test_a_job_survives_a_sigkill_of_its_whole_worker(kind, campaign, env):
    args, total = JOBS[kind]
    if kind == "ppo":
        args = args + ["--reward", str(rm_checkpoint(campaign).pk)]
    name = f"training@faults-{uuid.uuid4().hex[:8]}"
    first = Worker(env, name).start()
    second = None
    try:
        job = queue(env, "train", *args)
        wait_for(lambda: saved_state(job) and job.metric_series()[-1]["step"] > 5, "a save")
        first.kill()
        job.refresh_from_db()
        assert job.status == "running"  # nobody has noticed yet
        later = queue(
            env, "generate", "--k", "4", "--set", "max_new_tokens=4", "--max-prompts", "2"
        )

        second = Worker(env, name).start()  # the same name: it takes back what it died with
        wait_for(lambda: finished(job, later), "both jobs to finish")
    finally:
        first.stop()
        if second:
            second.stop()
    assert job.status == "succeeded", (job.error, job.log_tail[-3000:])
    assert job.attempts == 2 and job.resumed_from_step > 0
    assert job.worker.startswith(name + ":")
    steps = [row["step"] for row in job.metric_series()]
    assert steps == list(range(1, total + 1))  # one row a step, none twice
    outputs = Checkpoint.objects.filter(name=f"campaign-{kind}-job{job.pk}")
    assert outputs.count() == 1 and job.output_checkpoint == outputs.get()
    assert f"--- attempt 2 on {name}" in job.log_tail
    assert later.status == "succeeded", later.error
    assert later.attempts == 1


def test_a_job_survives_a_sigkill_of_its_pool_process(campaign, redis_env):
    """The OOM killer's case: the pool process running the job dies, its worker lives on.
    The message comes back (reject on worker lost), and the worker, seeing its own dead pid
    on the job, requeues it."""
    env = redis_env
    args, total = JOBS["rm"]
    worker = Worker(env, f"training@pool-{uuid.uuid4().hex[:8]}").start()
    try:
        job = queue(env, "train", *args)
        wait_for(lambda: saved_state(job) and job.metric_series()[-1]["step"] > 5, "a save")
        running = int(job.worker.rpartition(":")[2])
        assert running in worker.pool_processes()
        os.kill(running, signal.SIGKILL)
        wait_for(lambda: finished(job), "the job to finish")
    finally:
        worker.stop()
    assert job.status == "succeeded", (job.error, job.log_tail[-3000:])
    assert job.attempts == 2 and job.resumed_from_step > 0
    assert [row["step"] for row in job.metric_series()] == list(range(1, total + 1))
    assert Checkpoint.objects.filter(name=f"campaign-rm-job{job.pk}").count() == 1


def test_a_two_process_accelerate_job_from_a_worker(campaign, redis_env):
    env = redis_env
    worker = Worker(env, f"training@launch-{uuid.uuid4().hex[:8]}").start()
    try:
        job = queue(
            env, "train", "rm", "--processes", "2", "--set", "lr=1e-3",
            "--set", "rankings_per_batch=4", "--set", "max_length=48",
        )  # fmt: skip
        wait_for(lambda: finished(job), "the launched job", timeout=300)
    finally:
        worker.stop()
    assert job.status == "succeeded", (job.error, job.log_tail[-3000:])
    assert "accelerate.commands.launch --num_processes 2" in job.log_tail
    checkpoint = job.output_checkpoint
    assert checkpoint.kind == "rm" and Checkpoint.objects.filter(kind="rm").count() == 1
    assert (Path(checkpoint.path) / "config.json").exists()
    series = job.metric_series()
    assert [row["step"] for row in series] == list(range(1, 9))  # 32 rankings, 4 a step
    assert "eval/accuracy" in series[-1] and checkpoint.metrics["eval/accuracy"] >= 0
