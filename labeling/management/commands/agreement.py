import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project, Prompt
from labeling.quality.agreement import AgreementError, project_agreement


def parse_date(value: str):
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


class Command(BaseCommand):
    help = "Inter-labeler agreement of a project (pairwise, tau-b, Krippendorff's alpha, flags)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--json", action="store_true", help="print the JSON document")
        parser.add_argument("--since", type=parse_date, help="rankings submitted on/after")
        parser.add_argument("--until", type=parse_date, help="rankings submitted before")
        parser.add_argument("--category", choices=Prompt.Category.values)
        parser.add_argument("--split", choices=Prompt.Split.values)

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project {options['project']!r}")
        try:
            doc = project_agreement(
                project,
                since=options["since"],
                until=options["until"],
                category=options["category"],
                split=options["split"],
            )
        except AgreementError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(doc, indent=2))
            return
        lo, hi = doc["pairwise_agreement_ci"]
        self.stdout.write(
            f"tasks with overlap: {doc['n_tasks_with_overlap']}\n"
            f"pairwise agreement: {fmt(doc['pairwise_agreement'])} "
            f"(95% CI {fmt(lo)}..{fmt(hi)}), tie rate {fmt(doc['tie_rate'])}\n"
            f"Kendall tau-b: {fmt(doc['kendall_tau_b'])}\n"
            f"Krippendorff alpha (ranks, ordinal): {fmt(doc['krippendorff_alpha_ordinal'])}\n"
            f"Krippendorff alpha (Likert, interval): {fmt(doc['likert_alpha_interval'])}"
        )
        for row in doc["labelers"]:
            name = f"{row['username']} (AI)" if row.get("is_ai") else row["username"]
            self.stdout.write(
                f"  {name:<20} agreement {fmt(row['agreement'])}  "
                f"gold {fmt(row['gold_agreement'])}  rankings {row['n_rankings']}  "
                f"median s {fmt(row['median_seconds'], 0)}  skip {fmt(row['skip_rate'])}"
            )
