import json

from django.core.management.base import BaseCommand, CommandError

from evaluations import campaigns, report, scoring
from labeling.errors import ServiceError
from training.management.job_command import checkpoint_of

from ._campaign import campaign_of


class Command(BaseCommand):
    help = (
        "A campaign's report: win rate against the baseline (ties count half; 95 % bootstrap "
        "interval over prompts), Bradley–Terry strengths (baseline 0), Likert and flag rates "
        "per model and prompt category. --judge rm:ID has a reward model judge the same "
        "answers (scored here) and adds its agreement with the humans."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--baseline", help="contestant name (default: the first)")
        parser.add_argument("--judge", default="human", help="human (default) or rm:ID")
        parser.add_argument("--bootstrap", type=int, default=1000, help="resamples")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        campaign = campaigns.advance(campaign_of(options))
        try:
            if options["judge"] != "human":
                prefix, _, checkpoint_id = options["judge"].partition(":")
                if prefix != "rm" or not checkpoint_id.isdigit():
                    raise CommandError(f"--judge: human or rm:ID, not {options['judge']!r}")
                scoring.score_entries(campaign, checkpoint_of(int(checkpoint_id), "--judge"))
            document = report.build_report(
                campaign,
                options["baseline"],
                judge=options["judge"],
                n_boot=options["bootstrap"],
                seed=options["seed"],
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2))
            return
        self.stdout.write(
            f"{campaign.name} ({campaign.status}), judge {document['judge']}, baseline "
            f"{document['baseline']}, {document['n_judgments']} judgments"
        )
        for name, row in document["models"].items():
            self.stdout.write(f"  {name:30} {_line(row)}")


def _pct(value) -> str:
    return "–" if value is None else f"{value:.0%}"


def _line(row: dict) -> str:
    low, high = row.get("ci") or [None, None]
    bt, likert = row.get("bt"), row.get("likert")
    return (
        f"win {_pct(row.get('win_rate'))} [{_pct(low)}, {_pct(high)}]  "
        f"ties {_pct(row.get('tie_rate'))}  n {row.get('n', 0)}  "
        f"BT {'–' if bt is None else f'{bt:+.2f}'}  "
        f"Likert {'–' if likert is None else f'{likert:.2f}'}"
    )
