"""Web server + Celery worker + beat in one command: the embedded default's single process tree."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a housekeeping worker with beat and a job worker until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port to serve on")
        parser.add_argument("--no-worker", action="store_true", help="serve the web UI only")

    def handle(self, *args, **options):
        python = sys.executable
        processes = []
        if not options["no_worker"]:
            schedule = str(settings.VAR_DIR / "celerybeat-schedule")
            for command in worker_commands(python, schedule):
                processes.append(subprocess.Popen(command, env=os.environ.copy()))
        web = [python, "manage.py", "runserver", options["addr"], "--noreload"]
        if not settings.DEBUG:
            web.append("--insecure")  # whitenoise serves static files; runserver may too
        processes.append(subprocess.Popen(web, cwd=settings.BASE_DIR, env=os.environ.copy()))
        self.stdout.write(f"Preflab is running at http://{options['addr']}/ (Ctrl-C stops it)")
        # A SIGTERM (docker stop, a supervisor) stops the children too, like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        failed = [p.args[2] for p in processes if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            self.stderr.write(f"stopped: a process exited with an error ({failed})")


def worker_commands(python: str, schedule: str) -> list[list[str]]:
    """Housekeeping (lease expiry, exports, the sweep of lost jobs) and beat in one worker, and
    jobs in another, so the housekeeping never waits behind a two-hour job. The job worker
    takes a fresh process for each job (memory, GPU memory included, is released after it),
    and its stable name lets it take back, when it starts, the jobs it died with."""
    celery = [python, "-m", "celery", "-A", "preflab", "worker", "--loglevel", "INFO"]
    return [
        [*celery, "--hostname", "default@%h", "--queues", "default", "--concurrency", "1",
         "--beat", "--schedule", schedule],
        [*celery, "--hostname", "training@%h", "--queues", "training,generation",
         "--concurrency", "1", "--max-tasks-per-child", "1"],
    ]  # fmt: skip


def _interrupt(signum, frame):
    raise KeyboardInterrupt
