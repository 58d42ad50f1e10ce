from django.core.management.base import BaseCommand

from training.management.job_command import (
    add_job_arguments,
    checkpoint_of,
    load_config,
    project_of,
    start,
)


class Command(BaseCommand):
    help = "Sample K responses per prompt from a checkpoint and turn them into ranking tasks."

    def add_arguments(self, parser):
        add_job_arguments(parser)
        parser.add_argument("--k", type=int, default=None, help="responses per prompt")
        parser.add_argument("--split", default=None, help="prompts of this split (default train)")
        parser.add_argument("--max-prompts", type=int, default=None)

    def handle(self, *args, **options):
        config = load_config(options)
        for key, option in (("k", "k"), ("split", "split"), ("max_prompts", "max_prompts")):
            if options[option] is not None:
                config[key] = options[option]
        start(
            self,
            project_of(options),
            "generate",
            config,
            options,
            base=checkpoint_of(options["base"], "--base"),
        )
