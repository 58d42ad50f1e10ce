from django.core.management.base import CommandError

from evaluations.models import Campaign
from training.management.job_command import project_of


def campaign_of(options) -> Campaign:
    project = project_of(options)
    campaign = Campaign.objects.filter(project=project, name=options["campaign"]).first()
    if campaign is None:
        raise CommandError(f"--campaign: {project.slug} has no campaign {options['campaign']!r}")
    return campaign
