from django.core.management.base import BaseCommand, CommandError

from evaluations.imports import EvaluationRows
from labeling.intake.importers import ImportFailed, import_rows


class Command(BaseCommand):
    help = (
        "Import pairwise judgments in Chatbot Arena's convention (JSONL or CSV, optionally "
        ".gz): prompt, model_a, model_b, response_a, response_b, winner (model_a | model_b | "
        "tie), labeler. One transaction: a bad row stops it with file:line: field."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="project slug (created if new)")
        parser.add_argument("--campaign", required=True, help="campaign name (created if new)")

    def handle(self, *args, **options):
        try:
            summary = import_rows(
                EvaluationRows, options["file"], options["project"], campaign=options["campaign"]
            )
        except ImportFailed as exc:
            raise CommandError(f"{exc} (nothing was imported)") from exc
        self.stdout.write(summary.line())
