from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from labeling import projects
from labeling.demo.simulation import SimulationConfig, simulate
from labeling.errors import ServiceError
from labeling.models import MAX_K, MIN_K


def noise_list(value: str) -> list[float]:
    try:
        return [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise CommandError(
            f"--noise-levels: expected numbers like 0.2,0.5,2, got {value!r}"
        ) from None


class Command(BaseCommand):
    help = (
        "Simulate a labeling campaign: labelers with controllable noise rank generated tasks "
        "(for demos, the dashboard and benchmarks)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="slug; created when missing")
        parser.add_argument("--labelers", type=int, default=6)
        parser.add_argument("--spammers", type=int, default=0, help="labelers who rank at random")
        parser.add_argument("--tasks", type=int, default=60)
        parser.add_argument("--overlap", type=int, default=3)
        parser.add_argument("--k", default="4..7", help="K or K_MIN..K_MAX")
        parser.add_argument("--noise", type=float, default=0.5, help="median labeler noise")
        parser.add_argument("--noise-levels", type=noise_list, default=None)
        parser.add_argument("--tie-prob", type=float, default=0.1)
        parser.add_argument("--skip-prob", type=float, default=0.05)
        parser.add_argument("--gold-share", type=float, default=0.1)
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--prefix", default="sim", help="usernames are PREFIX-labeler-N")

    def handle(self, *args, **options):
        low, _, high = options["k"].partition("..")
        try:
            k_min, k_max = int(low), int(high or low)
        except ValueError:
            raise CommandError(f"--k: expected N or N..M, got {options['k']!r}") from None
        if not MIN_K <= k_min <= k_max <= MAX_K:
            raise CommandError(f"--k: K must lie in {MIN_K}..{MAX_K}")
        if options["labelers"] + options["spammers"] < 1 or options["tasks"] < 1:
            raise CommandError("--labelers/--tasks: at least one of each")
        config = SimulationConfig(
            labelers=options["labelers"],
            spammers=options["spammers"],
            tasks=options["tasks"],
            overlap=options["overlap"],
            k_min=k_min,
            k_max=k_max,
            noise=options["noise"],
            noise_levels=options["noise_levels"] or [],
            tie_prob=options["tie_prob"],
            skip_prob=options["skip_prob"],
            gold_share=options["gold_share"],
            days=options["days"],
            seed=options["seed"],
            prefix=options["prefix"],
        )
        if config.noise_levels and len(config.noise_levels) != config.labelers:
            raise CommandError("--noise-levels: give one level per labeler")
        try:
            with transaction.atomic():  # a refused simulation leaves no new project behind
                project, created = projects.get_or_create_project(
                    options["project"],
                    name=f"Simulated campaign {options['project']}",
                    k_min=k_min,
                )
                summary = simulate(project, config)
        except ServiceError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        self.stdout.write(
            f"{'created' if created else 'used'} project {project.slug}: "
            + ", ".join(f"{key} {value}" for key, value in summary.items())
        )
