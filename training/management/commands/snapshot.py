"""manage.py snapshot comparisons|rankings|demonstrations|prompts --project SLUG [options]."""

from django.core.management.base import BaseCommand

from labeling.management.export_command import (
    add_option_arguments,
    command_error,
    options_from_arguments,
    project_or_error,
)
from labeling.outputs.options import KINDS, ExportError
from training.snapshots import create_snapshot


class Command(BaseCommand):
    help = (
        "Freeze an export as a content-hashed DatasetSnapshot that training jobs can "
        "reference; prints its hash, rows and path."
    )

    def add_arguments(self, parser):
        # one sub-command per kind, so each takes (and --help shows) only its own options
        kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
        for kind in KINDS:
            sub = kinds.add_parser(kind, help=f"freeze the {kind} export")
            sub.add_argument("--project", required=True, help="project slug")
            add_option_arguments(sub, kind)

    def handle(self, *args, **arguments):
        kind = arguments["kind"]
        project = project_or_error(arguments["project"])
        try:
            snapshot = create_snapshot(project, kind, options_from_arguments(kind, arguments))
        except ExportError as exc:
            raise command_error(exc) from exc
        self.stdout.write(
            f"snapshot {snapshot.content_hash} rows: {snapshot.n_rows} path: {snapshot.path}"
        )
