from django.core.management.base import BaseCommand, CommandError

from labeling.demo.campaign import DEMO_ACCOUNTS, PROJECT_SLUG, seed_demo
from labeling.demo.simulated_campaign import SIMULATED_LABELERS
from labeling.errors import ServiceError
from labeling.models import Demonstration, Project, Ranking, RankingTask, Response

URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = "Create the demo campaign (prompts, responses, tasks, demonstrations) and accounts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give every demo account a new password (by default an existing account "
            "keeps its own, and a password is printed only for an account made now)",
        )
        parser.add_argument(
            "--no-training",
            action="store_true",
            help="skip the demo's finished training run on the tiny model (SFT, RM, PPO and "
            "an evaluation, run here in seconds)",
        )

    def handle(self, *args, **options):
        try:
            passwords = seed_demo(reset_passwords=options["reset_passwords"])
        except ServiceError as exc:  # e.g. the demo project's K range was changed since
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        project = Project.objects.get(slug=PROJECT_SLUG)
        training = None
        if not options["no_training"]:
            # the training app's part, imported here: labeling does not depend on training
            from training.demo_run import run_demo_training

            try:
                training = run_demo_training(project)
            except ServiceError as exc:
                raise CommandError(f"training: {exc.field}: {exc.message}") from exc
        simulated = [name for name, _ in SIMULATED_LABELERS]
        simulated_rankings = Ranking.objects.filter(
            task__project=project, labeler__username__in=simulated
        )
        counts = (
            f"{project.prompts.count()} prompts, "
            f"{Response.objects.filter(prompt__project=project).count()} responses, "
            f"{RankingTask.objects.filter(project=project).count()} ranking tasks, "
            f"{Demonstration.objects.filter(prompt__project=project).count()} demonstrations, "
            f"{simulated_rankings.count()} rankings by the simulated labelers "
            f"{', '.join(simulated)}"
        )
        width = max(len(name) for name, _, _ in DEMO_ACCOUNTS)
        lines = [
            "",
            f"Demo campaign '{project.slug}' ready: {counts}.",
            _training_line(training),
            "",
            f"  Open {URL}",
            "",
            "  Accounts:",
        ]
        for username, role, _ in DEMO_ACCOUNTS:
            password = passwords.get(username) or "unchanged (--reset-passwords resets it)"
            lines.append(f"    {username:<{width}}  role: {role:<8}  password: {password}")
        lines.append("")
        self.stdout.write("\n".join(lines))


def _training_line(training) -> str:
    if training is None:
        return "Training run on the tiny model: skipped (--no-training)."
    ids = ", ".join(f"{kind} job {training[kind].pk}" for kind in ("sft", "rm", "ppo", "evaluate"))
    when = f"run now in {training['seconds']:.0f} s" if training["ran"] else "from an earlier seed"
    return f"Training run on the tiny model: {ids} succeeded ({when})."
