import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.errors import ServiceError
from training.ai_labelers import ai_label
from training.management.job_command import project_of


class Command(BaseCommand):
    help = (
        "An AI labeler (RLAIF) ranks the project's open tasks under its own account ai-NAME, "
        "through the same assignment engine as people: a reward model (rm:ID) or a causal LM "
        "prompted with the project's principles (checkpoint:ID) judges each response. Its "
        "rankings are marked: exports leave them out unless --include-ai is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--judge", required=True, help="rm:ID (a reward model) or checkpoint:ID (an LM)"
        )
        parser.add_argument(
            "--name", help="the account is ai-NAME (default: the judge, e.g. ai-rm-3)"
        )
        parser.add_argument(
            "--principles",
            help="a Markdown file of principles for a checkpoint judge (default: the project's)",
        )
        parser.add_argument("--limit", type=int, help="rank at most N tasks")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **options):
        project = project_of(options)
        principles = None
        if options["principles"]:
            try:
                principles = Path(options["principles"]).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"--principles: {exc}") from exc
        try:
            result = ai_label(
                project,
                options["judge"],
                name=options["name"],
                principles=principles,
                limit=options["limit"],
            )
        except ServiceError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"{result['labeler']} ({result['judge']}): ranked {result['ranked']} tasks, "
            f"skipped {result['skipped']} evaluation tasks"
        )
