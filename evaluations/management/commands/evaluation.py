import json

from django.core.management.base import BaseCommand, CommandError

from evaluations import campaigns
from evaluations.models import Campaign
from labeling.errors import ServiceError
from training.management.job_command import project_of

from ._campaign import campaign_of

CREATE_KEYS = ("name", "split", "format", "overlap", "max_prompts", "max_new_tokens")


class Command(BaseCommand):
    help = (
        "Human evaluation campaigns. create: sample one answer per contestant and prompt "
        "(checkpoint contestants get a generation job on the workers), then put them to "
        "labelers blind. show: its status, contestants and tasks."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="a new campaign")
        create.add_argument("--project", required=True)
        create.add_argument("--name", required=True)
        create.add_argument(
            "--contestant",
            action="append",
            required=True,
            help="checkpoint:ID (its answers are sampled) or model:NAME (its imported "
            "responses); 2 to 9 of them",
        )
        create.add_argument("--split", default="test", help="the prompts' split (default test)")
        create.add_argument("--max-prompts", type=int)
        create.add_argument(
            "--format", default="pairwise", choices=Campaign.Format.values, help="default pairwise"
        )
        create.add_argument("--overlap", type=int, default=1, help="labelers per task")
        create.add_argument(
            "--max-new-tokens", type=int, help="answer length cap of the generation jobs"
        )
        show = actions.add_parser("show", help="a campaign's state")
        show.add_argument("--project", required=True)
        show.add_argument("--campaign", required=True)
        show.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        try:
            if options["action"] == "create":
                campaign = self._create(options)
            else:
                campaign = campaigns.advance(campaign_of(options))
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        described = campaigns.describe(campaign)
        if options.get("json"):
            self.stdout.write(json.dumps(described, indent=2))
            return
        self.stdout.write(
            f"campaign {campaign.name} ({campaign.format}, {described['prompts']} prompts): "
            f"{campaign.status}{' — ' + campaign.error if campaign.error else ''}"
        )
        for contestant in described["contestants"]:
            job = contestant["generation_job"]
            self.stdout.write(
                f"  {contestant['name']}: {contestant['answers']} answers"
                + (f", generation job {job['id']} {job['status']}" if job else "")
            )
        self.stdout.write(
            f"  tasks: {described['tasks']}, rankings: {described['rankings']}, "
            f"still to rank: {described['missing']}"
        )

    def _create(self, options) -> Campaign:
        data = {key: options[key] for key in CREATE_KEYS} | {"contestants": options["contestant"]}
        return campaigns.create_from_request(project_of(options), data)
