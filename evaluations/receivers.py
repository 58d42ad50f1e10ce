"""Generation jobs of evaluation campaigns tell them their answers (``training.signals``)."""

from django.db import transaction
from django.dispatch import receiver

from training.signals import responses_generated

from . import campaigns
from .models import Contestant


@receiver(responses_generated, dispatch_uid="evaluations.record_answers")
def record_answers(sender, job, answers, **kwargs):
    contestants = list(Contestant.objects.filter(generation_job=job).select_related("campaign"))
    if not contestants:
        return
    campaigns.record_answers(job, answers)
    # the job is marked succeeded in this same transaction: look at the campaign after it
    for campaign in {c.campaign for c in contestants}:
        transaction.on_commit(lambda campaign=campaign: campaigns.advance(campaign))
