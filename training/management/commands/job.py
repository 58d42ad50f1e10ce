import json

from django.core.management.base import BaseCommand, CommandError

from training import lifecycle
from training.dispatch import BrokerUnavailable
from training.models import TrainingJob


class Command(BaseCommand):
    help = (
        "Show, cancel, retry or re-run a training job (a retried job resumes from its saved "
        "state; a re-run is a new job with the same kind, config, checkpoints and snapshots)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "cancel", "retry", "rerun"])
        parser.add_argument("id", type=int, help="the job's id")
        parser.add_argument("--json", action="store_true", help="show: print the job as JSON")

    def handle(self, *args, **options):
        job = TrainingJob.objects.filter(pk=options["id"]).first()
        if job is None:
            raise CommandError(f"id: no job {options['id']}")
        if options["action"] == "rerun":
            from training.jobs import JobError, rerun_job

            try:
                rerun = rerun_job(job)
            except (JobError, BrokerUnavailable) as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"job {rerun.pk} ({rerun.kind}) queued: a re-run of job {job.pk}")
            return
        if options["action"] != "show":
            transition = lifecycle.cancel if options["action"] == "cancel" else lifecycle.retry
            try:
                transition(job)
            except (lifecycle.TransitionError, BrokerUnavailable) as exc:
                raise CommandError(str(exc)) from exc
            job.refresh_from_db()
            self.stdout.write(f"job {job.pk} is {job.status}")
            return
        if options["json"]:
            from api.serializers import TrainingJobSerializer

            self.stdout.write(json.dumps(TrainingJobSerializer(job).data, indent=2, default=str))
            return
        self.stdout.write(describe(job))


def describe(job) -> str:
    series = job.metric_series()
    lines = [
        f"job {job.pk}: {job.kind} in {job.project.slug}, {job.status}",
        f"  progress          {job.progress:.0%}",
        f"  attempts          {job.attempts}",
        f"  resumed from step {'-' if job.resumed_from_step is None else job.resumed_from_step}",
        f"  worker            {job.worker or '-'}",
        f"  heartbeat         {job.heartbeat_at or '-'}",
        f"  base checkpoint   {job.base_checkpoint_id or '-'}",
        f"  output checkpoint {job.output_checkpoint_id or '-'}",
        f"  snapshot          {job.snapshot_id or '-'}",
        f"  config            {json.dumps(job.config)}",
    ]
    if series:
        last = series[-1]
        lines.append(
            f"  last metrics      step {last['step']}: "
            + " ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "step")
        )
    alarms = job.alarms()
    if alarms:
        lines += ["", "alarms:"] + [f"  step {a['step']}: {a['message']}" for a in alarms]
    if job.error:
        lines += ["", "error:", job.error]
    if job.log_tail:
        lines += ["", "log tail:", job.log_tail.rstrip()]
    return "\n".join(lines)
