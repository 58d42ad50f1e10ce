import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.demo.simulation import PREFERENCE_RULE
from labeling.errors import ServiceError
from pipelines import service
from pipelines.models import Pipeline
from training import presets
from training.management.job_command import checkpoint_of, project_of


class Command(BaseCommand):
    help = (
        "Run InstructGPT's loop as one pipeline: SFT, then per round generate → rank → RM → "
        "PPO → evaluate, each a training job queued for the workers; waits until it is done "
        "or a stage fails. Simulated labelers rank by one learnable rule: the labeler "
        f"{PREFERENCE_RULE}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--labelers",
            default="simulated",
            help="who ranks the generated samples: human (wait for people), simulated "
            f"(the project's simulated labelers; each {PREFERENCE_RULE}), ai:NAME (the AI "
            "labeler ai-NAME ranks with the judge --ai-judge; see docs/ai-labelers.md)",
        )
        parser.add_argument(
            "--ai-judge",
            help="with --labelers ai:NAME: rm:ID (a reward model) or checkpoint:ID (an LM "
            'prompted with the project\'s principles); "ai_judge" in --config likewise',
        )
        parser.add_argument(
            "--rounds", type=int, default=1, help="generate → rank → RM → PPO → evaluate rounds"
        )
        parser.add_argument(
            "--base", type=int, help="checkpoint id SFT starts from (default: the base model)"
        )
        parser.add_argument(
            "--config",
            help='JSON file of job configs per stage: {"sft": {...}, "generate": {...}, "rm": '
            '{...}, "ppo": {...}, "evaluate": {...}, "simulation": {"labelers": 3, ...}}',
        )
        parser.add_argument(
            "--preset",
            choices=presets.NAMES,
            help="job sizes: quick (a laptop CPU: short samples, 8 small PPO steps; minutes with "
            "the demo model) or full (the engine's defaults, for a GPU); default: quick without "
            "a GPU, full with one. --config values win over the preset's",
        )
        parser.add_argument(
            "--algorithm",
            choices=service.ALGORITHMS,
            help="what trains each round's policy: ppo (default), or dpo (rounds of generate → "
            "rank → RM → DPO → evaluate; the RM only judges the evaluation)",
        )
        parser.add_argument(
            "--human-evaluation",
            action="store_true",
            help="after each evaluate stage, also open a blind human evaluation campaign (the "
            "new policy against its baseline, on the test prompts; settings under "
            '"human_evaluation" in --config); the pipeline does not wait for it',
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue the project's latest pipeline: a failed one from its failed stage "
            "(the stage's job is retried), a running one whose driver stopped from where it is",
        )
        parser.add_argument("--json", action="store_true", help="print the stages as JSON")
        parser.add_argument(
            "--poll", type=float, default=2.0, help="seconds between looks at the jobs"
        )
        parser.add_argument(
            "--timeout", type=float, default=0, help="give up waiting after N seconds (0: never)"
        )

    def handle(self, *args, **options):
        project = project_of(options)
        try:
            pipeline = self._pipeline(project, options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if not options["json"]:
            self.stdout.write(
                f"pipeline {pipeline.pk} ({pipeline.labelers}, {pipeline.rounds} rounds)"
            )
        deadline = time.monotonic() + options["timeout"] if options["timeout"] else None
        shown: dict = {}
        while True:
            pipeline = service.advance(pipeline)
            if not options["json"]:
                self._show_changes(pipeline, shown)
            if pipeline.status != Pipeline.Status.RUNNING:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(options["poll"])
        if options["json"]:
            self.stdout.write(json.dumps(service.describe(pipeline), indent=2))
        if pipeline.status == Pipeline.Status.CANCELLED:
            raise CommandError(f"pipeline {pipeline.pk} {pipeline.error or 'cancelled'}")
        if pipeline.status == Pipeline.Status.FAILED:
            raise CommandError(
                f"pipeline {pipeline.pk} failed: {pipeline.error} (--resume continues from there)"
            )
        if pipeline.status == Pipeline.Status.RUNNING:
            raise CommandError(f"pipeline {pipeline.pk} still running after --timeout")
        if not options["json"]:
            self.stdout.write(f"pipeline {pipeline.pk} succeeded")

    def _pipeline(self, project, options) -> Pipeline:
        if options["resume"]:
            # the latest unfinished pipeline: a failed one goes on from its failed stage, a
            # running one whose driver stopped (a human rank stage can wait for days) is
            # simply driven again
            unfinished = Pipeline.objects.filter(
                project=project, status__in=[Pipeline.Status.RUNNING, Pipeline.Status.FAILED]
            )
            pipeline = unfinished.order_by("-id").first()
            if pipeline is None:
                raise CommandError(f"--resume: {project.slug} has no failed or running pipeline")
            if pipeline.status == Pipeline.Status.FAILED:
                pipeline = service.resume_pipeline(pipeline)
            return pipeline
        config = {}
        if options["config"]:
            try:
                config = json.loads(Path(options["config"]).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise CommandError(f"--config: {exc}") from exc
        if options["human_evaluation"]:
            config.setdefault("human_evaluation", {})
        if options["algorithm"]:
            config["algorithm"] = options["algorithm"]
        if options["ai_judge"]:
            config["ai_judge"] = options["ai_judge"]
        return service.start_pipeline(
            project,
            labelers=options["labelers"],
            rounds=options["rounds"],
            base=checkpoint_of(options["base"], "--base"),
            config=config,
            preset=options["preset"],
        )

    def _show_changes(self, pipeline, shown: dict) -> None:
        """One line per stage each time its status or note changes."""
        for stage in service.describe(pipeline)["stages"]:
            key = (stage["round"], stage["kind"])
            line = f"round {stage['round']} {stage['kind']}: {stage['status']}"
            if stage["job"]:
                line += f" (job {stage['job']})"
            if stage["status"] == "succeeded":
                line += _numbers(stage)
            elif stage["note"]:
                line += f" — {stage['note']}"
            if shown.get(key) != line:
                shown[key] = line
                self.stdout.write(line)


def _numbers(stage: dict) -> str:
    """The few numbers worth a line: checkpoint, and the stage's headline metrics."""
    keys = {
        "sft": ["eval/loss"],
        "generate": ["generate/tasks"],
        "rank": ["rankings"],
        "rm": ["eval/accuracy"],
        "ppo": ["ppo/score_gain", "objective/kl"],
        "dpo": ["eval/accuracy", "eval/margin"],
        "evaluate": ["eval/reward_gain", "eval/win_rate"],
    }[stage["kind"]]
    parts = [f"checkpoint {stage['checkpoint']}"] if stage["checkpoint"] else []
    parts += [f"{k}={stage['metrics'][k]:.4g}" for k in keys if k in stage["metrics"]]
    return f": {', '.join(parts)}" if parts else ""
