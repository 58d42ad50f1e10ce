from django.core.management.base import BaseCommand, CommandError

from labeling.intake.ranking_tasks import TaskError, build_tasks
from labeling.models import Project


def k_range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("..")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise CommandError(f"--k: expected N or N..M, got {value!r}") from None


class Command(BaseCommand):
    help = "Build ranking tasks from each prompt's responses (a random K-subset when more exist)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--k", default="4..9", help="K or K_MIN..K_MAX (default 4..9)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project {options['project']!r}")
        k_min, k_max = k_range(options["k"])
        try:
            summary = build_tasks(project, k_min, k_max, seed=options["seed"])
        except TaskError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"tasks created: {summary['created']}, prompts with too few responses: "
            f"{summary['too_few_responses']}, prompts already tasked: {summary['already_tasked']}"
        )
