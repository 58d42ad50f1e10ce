"""Options shared by `train`, `generate` and `best_of_n`: project, checkpoints, config, where
to run."""

import json
from pathlib import Path

from django.core.management.base import CommandError

from labeling.models import Project
from training import dispatch, jobs
from training.models import Checkpoint


def add_job_arguments(parser):
    parser.add_argument("--project", required=True)
    parser.add_argument(
        "--base", type=int, help="checkpoint id to start from (default: base model)"
    )
    parser.add_argument("--config", help="JSON file with the engine config")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    parser.add_argument(
        "--run-here", action="store_true", help="run in this process instead of on a worker"
    )
    parser.add_argument(
        "--processes", type=int, help="train under `accelerate launch` with N processes"
    )
    parser.add_argument("--accelerate-config", help="accelerate / DeepSpeed config file")


def load_config(options) -> dict:
    config = {}
    if options.get("config"):
        try:
            config = json.loads(Path(options["config"]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"--config: {exc}") from exc
    for key in ("processes", "accelerate_config"):
        if options.get(key) is not None:
            config[key] = options[key]
    for item in options["set"]:
        key, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def project_of(options) -> Project:
    project = Project.objects.filter(slug=options["project"]).first()
    if project is None:
        raise CommandError(f"--project: no project {options['project']!r}")
    return project


def checkpoint_of(checkpoint_id, option: str) -> Checkpoint | None:
    if checkpoint_id is None:
        return None
    checkpoint = Checkpoint.objects.filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise CommandError(f"{option}: no checkpoint {checkpoint_id}")
    return checkpoint


def start(command, project, kind, config, options, **checkpoints):
    if not options["run_here"]:
        try:
            dispatch.require_broker()
        except dispatch.BrokerUnavailable as exc:
            raise CommandError(str(exc)) from exc
    try:
        job = jobs.create_job(project, kind, config, enqueue=not options["run_here"], **checkpoints)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if not options["run_here"]:
        command.stdout.write(f"job {job.pk} ({kind}) queued")
        return job
    job = jobs.run_job(job.pk)
    command.stdout.write(f"job {job.pk} ({kind}) {job.status}")
    if job.output_checkpoint_id:
        command.stdout.write(f"checkpoint {job.output_checkpoint_id}: {job.output_checkpoint.path}")
    if job.status == "failed":
        raise CommandError(job.error.splitlines()[0])
    return job
