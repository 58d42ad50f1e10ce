"""Web server + Celery workers + beat in one command: the embedded default's process tree.

The web is gunicorn (``--web-workers`` sync workers, 2 by default; whitenoise serves the
static files, collected into ``STATIC_ROOT`` before it starts); ``--dev`` runs Django's
development server with autoreload instead. The command supervises its Celery workers: one
that exits (killed, out of memory, or done with its job, see below) is started again, and on
its start takes back the jobs it was running. The web server exiting, Ctrl-C or SIGTERM
stops everything: the web server and each worker get SIGTERM, the ones still running after
``STOP_GRACE_S`` get SIGKILL, and any process they started that outlived them (a training
job's ``accelerate launch``, runserver's reloaded server) gets the same.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

RESTART_DELAYS_S = (0, 1, 5, 15, 30)  # a worker that keeps dying waits longer each time
STABLE_AFTER_S = 60  # a worker that ran this long starts its next restart from no delay
STOP_GRACE_S = 20  # SIGTERM, then this long before SIGKILL
GUNICORN_TIMEOUT_S = 120  # a request running longer (a large export) gets its worker killed
GUNICORN_GRACEFUL_S = 10  # on SIGTERM, requests in flight get this long to finish


class Command(BaseCommand):
    help = "Run the web server, a housekeeping worker with beat and a job worker until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port to serve on")
        parser.add_argument("--no-worker", action="store_true", help="serve the web UI only")
        parser.add_argument(
            "--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)"
        )
        parser.add_argument(
            "--dev",
            action="store_true",
            help="serve with Django's development server, restarted on code changes, "
            "instead of gunicorn",
        )

    def handle(self, *args, **options):
        python = sys.executable
        if not options["dev"]:
            # whitenoise serves STATIC_ROOT (with DEBUG=0 only what is collected there)
            call_command("collectstatic", interactive=False, verbosity=0)
        # SIGTERM (docker stop, a supervisor) stops the children too, like Ctrl-C does; and
        # Ctrl-C does even where the shell started this command with SIGINT ignored.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
        workers = []
        web = None
        try:
            if not options["no_worker"]:
                schedule = str(settings.VAR_DIR / "celerybeat-schedule")
                workers = [
                    Supervised(command, env) for command, env in worker_commands(python, schedule)
                ]
            web = start(web_command(python, options), os.environ.copy())
            server = "development server" if options["dev"] else "gunicorn"
            self.stdout.write(
                f"Preflab is running at http://{options['addr']}/ ({server}; Ctrl-C stops it)"
            )
            while web.poll() is None:
                for worker in workers:
                    if worker.exited():
                        self.stderr.write(worker.restart())
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one: still stop cleanly
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop([p for p in [web] + [w.process for w in workers] if p is not None])
        if web is not None and web.returncode not in (0, -signal.SIGTERM, None):
            self.stderr.write(f"stopped: the web server exited with status {web.returncode}")


def web_command(python: str, options: dict) -> list[str]:
    if options["dev"]:
        command = [python, "manage.py", "runserver", options["addr"]]
        if not settings.DEBUG:
            command.append("--insecure")  # serve static files with DEBUG=0 too
        return command
    return [
        python, "-m", "gunicorn", "preflab.wsgi:application",
        "--bind", options["addr"],
        "--workers", str(options["web_workers"]),
        "--timeout", str(GUNICORN_TIMEOUT_S),
        "--graceful-timeout", str(GUNICORN_GRACEFUL_S),
        "--access-logfile", "-",
    ]  # fmt: skip


def start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each child; SIGKILL to one still running after STOP_GRACE_S. Then the same,
    with a shorter grace, to any process a child started that outlived it: runserver's
    autoreloader serves from a second process, a job worker's job runs in ``accelerate
    launch``'s own process group."""
    started = _descendants(os.getpid())
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
        left = [pid for pid, start_time in started.items() if _alive(pid, start_time)]
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [pid for pid in left if _alive(pid, started[pid])]


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name: state, ppid, pgrp, ..., starttime."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _descendants(root: int) -> dict[int, str]:
    """{pid: start time} of every process under ``root`` (Linux; none elsewhere)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields and len(fields) > 19:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            started[int(entry.name)] = fields[19]
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = started[pid]
        todo.extend(children.get(pid, []))
    return found


def _alive(pid: int, start_time: str) -> bool:
    fields = _stat(pid)  # the same process, not a new one that got the id, and not a zombie
    return bool(fields) and len(fields) > 19 and fields[19] == start_time and fields[0] != "Z"


class Supervised:
    """A worker process that is started again when it exits."""

    def __init__(self, command: list[str], env: dict):
        self.command, self.env, self.failures = command, env, 0
        self.start()

    def start(self):
        self.started = time.monotonic()
        self.process = start(self.command, self.env)

    def exited(self) -> bool:
        return self.process.poll() is not None

    def restart(self) -> str:
        code = self.process.returncode
        ran = time.monotonic() - self.started
        self.failures = 0 if ran >= STABLE_AFTER_S or code == 0 else self.failures + 1
        delay = RESTART_DELAYS_S[min(self.failures, len(RESTART_DELAYS_S) - 1)]
        time.sleep(delay)
        self.start()
        name = self.command[self.command.index("--hostname") + 1]
        return f"worker {name} exited with status {code} after {ran:.0f} s: started again"


def worker_commands(python: str, schedule: str) -> list[tuple[list[str], dict]]:
    """Housekeeping (lease expiry, the sweep of lost jobs) and beat in one worker, and
    jobs in another, so the housekeeping never waits behind a two-hour job.

    Both run their tasks in the worker process itself (``--pool solo``): a prefork pool whose
    idle child is killed can stall on a non-Redis broker (the child dies holding the lock of
    the pool's shared job pipe), while a solo worker that dies is simply started again. The
    job worker exits after each job (``PREFLAB_WORKER_EXIT_AFTER_JOB``), so every job gets a
    fresh process and its memory, GPU memory included, is released; its stable name lets it
    take back, when it starts, the job it died with."""
    celery = [python, "-m", "celery", "-A", "preflab", "worker", "--loglevel", "INFO",
              "--pool", "solo", "--without-mingle", "--without-gossip"]  # fmt: skip
    env = os.environ.copy()
    return [
        ([*celery, "--hostname", "default@%h", "--queues", "default", "--beat",
          "--schedule", schedule], env),
        ([*celery, "--hostname", "training@%h", "--queues", "training,generation"],
         env | {"PREFLAB_WORKER_EXIT_AFTER_JOB": "1"}),
    ]  # fmt: skip


def _interrupt(signum, frame):
    raise KeyboardInterrupt
