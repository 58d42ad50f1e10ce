from django.core.management.base import BaseCommand, CommandError

from training.management.job_command import (
    add_job_arguments,
    checkpoint_of,
    load_config,
    project_of,
    start,
)
from training.models import PretrainingCorpus


class Command(BaseCommand):
    help = (
        "Start an SFT, reward-model, PPO, DPO or evaluate job (queued for a worker unless "
        "--run-here). dpo: trains --base (default: the base model) on the project's rankings, "
        "no reward model. evaluate: --base is the policy, --reward the RM that judges it "
        "against its parent checkpoint (or --baseline); --set split=validation chooses the "
        "prompts."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["sft", "rm", "ppo", "dpo", "evaluate"])
        add_job_arguments(parser)
        parser.add_argument(
            "--reward", type=int, help="reward-model checkpoint id (PPO; evaluate: the judge)"
        )
        parser.add_argument(
            "--baseline",
            type=int,
            help="evaluate: checkpoint id the policy is compared with (default: its parent)",
        )
        parser.add_argument(
            "--ptx-coef",
            type=float,
            help="PPO-ptx: weight γ of the pretraining loss (default 0 = off; InstructGPT: 27.8)",
        )
        parser.add_argument(
            "--pretrain-corpus", type=int, help="PPO-ptx: pretraining corpus id (import_corpus)"
        )

    def handle(self, *args, **options):
        project = project_of(options)
        config = load_config(options)
        if options["baseline"] is not None:
            if options["kind"] != "evaluate":
                raise CommandError("--baseline: only evaluate jobs compare with a baseline")
            config["baseline_checkpoint"] = options["baseline"]
        if options["ptx_coef"] is not None:
            config["ptx_coef"] = options["ptx_coef"]
        corpus = None
        if options["pretrain_corpus"] is not None:
            corpus = PretrainingCorpus.objects.filter(
                pk=options["pretrain_corpus"], project=project
            ).first()
            if corpus is None:
                raise CommandError(
                    f"--pretrain-corpus: no corpus {options['pretrain_corpus']} in {project.slug}"
                )
        start(
            self,
            project,
            options["kind"],
            config,
            options,
            base=checkpoint_of(options["base"], "--base"),
            reward=checkpoint_of(options["reward"], "--reward"),
            corpus=corpus,
        )
