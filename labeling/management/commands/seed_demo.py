from django.core.management.base import BaseCommand, CommandError

from labeling.demo.campaign import DEMO_ACCOUNTS, PROJECT_SLUG, seed_demo
from labeling.errors import ServiceError
from labeling.models import Demonstration, Project, RankingTask, Response

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

    def handle(self, *args, **options):
        try:
            passwords = seed_demo(reset_passwords=options["reset_passwords"])
        except ServiceError as exc:  # e.g. the demo project's K range was changed since
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        project = Project.objects.get(slug=PROJECT_SLUG)
        counts = (
            f"{project.prompts.count()} prompts, "
            f"{Response.objects.filter(prompt__project=project).count()} responses, "
            f"{RankingTask.objects.filter(project=project).count()} ranking tasks, "
            f"{Demonstration.objects.filter(prompt__project=project).count()} demonstrations"
        )
        width = max(len(name) for name, _, _ in DEMO_ACCOUNTS)
        lines = [
            "",
            f"Demo campaign '{project.slug}' ready: {counts}.",
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
