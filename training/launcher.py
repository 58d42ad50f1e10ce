"""A job with ``processes: N`` runs under ``accelerate launch`` as a subprocess of the worker.

The worker writes the job's spec and inputs under ``<job folder>/launch/``, starts
``accelerate launch --num_processes N [--config_file F] -m training.engine.launch --spec
spec.json`` in a process group of its own, and reads its output: event lines (progress,
resume, result: ``training.engine.launch``) go to the job's recorder, every other line to the
log tail. On cancel it terminates the whole group (the launcher and every rank); the
checkpoint is the folder the main process (rank 0) writes.

A worker killed with SIGKILL leaves its launched group running; the group's id is kept in
``launch/pgid``, and the next attempt stops that group before it starts its own, so two runs
never write one folder.
"""

import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings

POLL_S = 0.5
STOP_GRACE_S = 15


class LaunchError(RuntimeError):
    pass


def launch(job, config, inputs: dict, recorder) -> dict:
    from training.engine.config import config_to_dict
    from training.engine.launch import EVENT_PREFIX

    from .jobs import job_dir

    folder = job_dir(job) / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for name, value in inputs.items():
        (folder / f"{name}.json").write_text(json.dumps(value))
        names[name] = f"{name}.json"
    spec = {"kind": job.kind, "config": config_to_dict(config), "inputs": names}
    (folder / "spec.json").write_text(json.dumps(spec, indent=2))
    stop_group(folder / "pgid")

    command = launch_command(job.processes, job.config.get("accelerate_config"), folder)
    recorder.tail.add("$ " + shlex.join(command))
    process = subprocess.Popen(
        command,
        cwd=settings.BASE_DIR,
        env=os.environ | {"PYTHONPATH": str(settings.BASE_DIR), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group: a cancel stops every rank
    )
    (folder / "pgid").write_text(str(process.pid))
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read, args=(process.stdout, lines), daemon=True)
    reader.start()
    result = None
    try:
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:  # the output ended: the group is exiting
                break
            if line.startswith(EVENT_PREFIX):
                event = json.loads(line[len(EVENT_PREFIX) :])
                if event["event"] == "progress":
                    recorder(event["step"], event["total"], event["metrics"])
                elif event["event"] == "resumed":
                    recorder.resumed(event["step"])
                elif event["event"] == "result":
                    result = event["result"]
            elif line:
                recorder.tail.add(line)
            recorder.poll()
    except BaseException:
        _stop(process)
        raise
    finally:
        reader.join(timeout=5)
    code = process.wait()
    (folder / "pgid").unlink(missing_ok=True)
    if code != 0 or result is None:
        raise LaunchError(
            f"accelerate launch exited with status {code}; last lines:\n"
            + recorder.tail.last_lines(20)
        )
    return result


def launch_command(processes: int, config_file: str | None, folder: Path) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    command += ["--num_processes", str(processes)]
    if config_file:
        # the file says the rest: the distributed type, DeepSpeed, machines, ports
        command += ["--config_file", config_file]
    else:
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        command += ["--main_process_port", str(_free_port())]
        if processes > 1:
            # one process per GPU; with no GPU, the engine groups the processes on the CPU (gloo)
            command.append("--multi_gpu")
    return command + ["-m", "training.engine.launch", "--spec", str(folder / "spec.json")]


def stop_group(pgid_file: Path) -> None:
    """Stop the process group a previous attempt left running (its worker was killed)."""
    try:
        pgid = int(pgid_file.read_text())
    except (OSError, ValueError):
        return
    if _group_runs_the_engine(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    pgid_file.unlink(missing_ok=True)


def _group_runs_the_engine(pgid: int) -> bool:
    """Some process of the group runs the launch (not a stranger that got the id later)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[2]) != pgid:
                continue
            if b"training.engine.launch" in (stat.parent / "cmdline").read_bytes():
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
