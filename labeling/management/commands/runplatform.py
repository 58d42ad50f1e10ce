"""Web server + Celery workers + beat in one command: the embedded default's process tree.

The command supervises its workers: one that exits (killed, out of memory, or done with its
job, see below) is started again, and on its start takes back the jobs it was running. The
web server exiting, Ctrl-C or SIGTERM stops everything.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

RESTART_DELAYS_S = (0, 1, 5, 15, 30)  # a worker that keeps dying waits longer each time
STABLE_AFTER_S = 60  # a worker that ran this long starts its next restart from no delay


class Command(BaseCommand):
    help = "Run the web server, a housekeeping worker with beat and a job worker until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port to serve on")
        parser.add_argument("--no-worker", action="store_true", help="serve the web UI only")

    def handle(self, *args, **options):
        python = sys.executable
        workers = []
        if not options["no_worker"]:
            schedule = str(settings.VAR_DIR / "celerybeat-schedule")
            workers = [
                Supervised(command, env) for command, env in worker_commands(python, schedule)
            ]
        web_command = [python, "manage.py", "runserver", options["addr"], "--noreload"]
        if not settings.DEBUG:
            web_command.append("--insecure")  # whitenoise serves static files; runserver may too
        web = subprocess.Popen(web_command, cwd=settings.BASE_DIR, env=os.environ.copy())
        self.stdout.write(f"Preflab is running at http://{options['addr']}/ (Ctrl-C stops it)")
        # A SIGTERM (docker stop, a supervisor) stops the children too, like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while web.poll() is None:
                for worker in workers:
                    if worker.exited():
                        self.stderr.write(worker.restart())
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            processes = [web] + [w.process for w in workers]
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if web.returncode not in (0, -signal.SIGTERM, None):
            self.stderr.write(f"stopped: the web server exited with status {web.returncode}")


class Supervised:
    """A worker process that is started again when it exits."""

    def __init__(self, command: list[str], env: dict):
        self.command, self.env, self.failures = command, env, 0
        self.start()

    def start(self):
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command, env=self.env)

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
