"""The shared shape of the import_* commands: FILE --project SLUG [--skip-invalid]."""

from django.core.management.base import BaseCommand, CommandError

from labeling.intake.importers import ImportFailed, run_import


class ImportCommand(BaseCommand):
    kind = ""
    takes_labeler = False

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL or CSV file, optionally .gz")
        parser.add_argument("--project", required=True, help="project slug (created if new)")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="report bad rows and import the rest instead of aborting",
        )
        if self.takes_labeler:
            parser.add_argument(
                "--labeler",
                help="username the file's preferences are recorded under "
                "(default: the file name without extensions)",
            )

    def handle(self, *args, **options):
        extra = {}
        if self.takes_labeler and options.get("labeler"):
            extra["labeler"] = options["labeler"]
        try:
            summary = run_import(
                self.kind,
                options["file"],
                options["project"],
                skip_invalid=options["skip_invalid"],
                **extra,
            )
        except ImportFailed as exc:
            raise CommandError(f"{exc} (nothing was imported)") from exc
        for problem in summary.problems:
            self.stderr.write(f"invalid: {problem}")
        self.stdout.write(summary.line())
