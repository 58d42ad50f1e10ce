from django.core.management.base import BaseCommand, CommandError

from training.management.job_command import (
    add_job_arguments,
    checkpoint_of,
    load_config,
    project_of,
    start,
)


class Command(BaseCommand):
    help = (
        "Best-of-n (rejection sampling): sample N responses per prompt from --base and keep the "
        "one the --reward model scores highest. The kept answers become accepted "
        "demonstrations (for another SFT round) and responses of model best-of-N(<policy>) "
        "(an evaluation contestant); no ranking tasks."
    )

    def add_arguments(self, parser):
        add_job_arguments(parser)
        parser.add_argument("--reward", type=int, required=True, help="reward-model checkpoint id")
        parser.add_argument("--n", type=int, default=None, help="samples per prompt (default 8)")
        parser.add_argument("--split", default=None, help="prompts of this split (default train)")
        parser.add_argument("--max-prompts", type=int, default=None)

    def handle(self, *args, **options):
        config = load_config(options)
        for key in ("n", "split", "max_prompts"):
            if options[key] is not None:
                config[key] = options[key]
        base = checkpoint_of(options["base"], "--base")
        if base is None:
            raise CommandError("--base: the policy checkpoint id to sample from")
        start(
            self,
            project_of(options),
            "best_of_n",
            config,
            options,
            base=base,
            reward=checkpoint_of(options["reward"], "--reward"),
        )
