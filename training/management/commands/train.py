from django.core.management.base import BaseCommand

from training.management.job_command import (
    add_job_arguments,
    checkpoint_of,
    load_config,
    project_of,
    start,
)


class Command(BaseCommand):
    help = "Start an SFT, reward-model or PPO job (queued for a worker unless --run-here)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["sft", "rm", "ppo"])
        add_job_arguments(parser)
        parser.add_argument("--reward", type=int, help="reward-model checkpoint id (PPO)")

    def handle(self, *args, **options):
        start(
            self,
            project_of(options),
            options["kind"],
            load_config(options),
            options,
            base=checkpoint_of(options["base"], "--base"),
            reward=checkpoint_of(options["reward"], "--reward"),
        )
