"""`manage.py pipeline cancel ID` | `pipeline show ID [--json]`: thin callers of
``pipelines.service``."""

import json

from django.core.management.base import BaseCommand, CommandError

from labeling.errors import ServiceError
from pipelines import service
from pipelines.models import Pipeline


class Command(BaseCommand):
    help = "Look at or cancel a pipeline (run_pipeline starts and resumes them)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        cancel = actions.add_parser(
            "cancel",
            help="stop a running pipeline: its running stage's job is cancelled, the project's "
            "lock is free",
        )
        cancel.add_argument("pipeline", type=int, help="pipeline id")
        show = actions.add_parser("show", help="the pipeline and its stages")
        show.add_argument("pipeline", type=int, help="pipeline id")
        show.add_argument("--json", action="store_true", help="print service.describe as JSON")

    def handle(self, *args, **options):
        pipeline = Pipeline.objects.filter(pk=options["pipeline"]).first()
        if pipeline is None:
            raise CommandError(f"no pipeline {options['pipeline']}")
        if options["action"] == "cancel":
            try:
                pipeline = service.cancel_pipeline(pipeline)
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"pipeline {pipeline.pk} {pipeline.status}")
            return
        described = service.describe(pipeline)
        if options["json"]:
            self.stdout.write(json.dumps(described, indent=2))
            return
        self._show(pipeline, described)

    def _show(self, pipeline, described) -> None:
        self.stdout.write(
            f"pipeline {pipeline.pk} of {pipeline.project.slug}: {pipeline.status} "
            f"({pipeline.mode}, {pipeline.labelers}, {pipeline.rounds} rounds)"
        )
        if pipeline.error:
            self.stdout.write(f"error: {pipeline.error}")
        for stage in described["stages"]:
            line = f"round {stage['round']} {stage['kind']}: {stage['status']}"
            if stage["job"]:
                line += f" (job {stage['job']})"
            if stage["checkpoint"]:
                line += f", checkpoint {stage['checkpoint']}"
            if stage["note"]:
                line += f" — {stage['note']}"
            self.stdout.write(line)
