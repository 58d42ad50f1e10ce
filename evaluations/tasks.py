"""Celery tasks of human evaluation: thin callers of the services."""

from celery import shared_task

from training.models import Checkpoint

from . import campaigns, scoring
from .models import Campaign


@shared_task(name="evaluations.score_campaign")
def score_campaign(campaign_id: int, checkpoint_id: int) -> int:
    """A reward model scores a campaign's answers (the RM as a judge)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    return scoring.score_entries(campaign, Checkpoint.objects.get(pk=checkpoint_id))


@shared_task(name="evaluations.advance_campaigns")
def advance_campaigns() -> int:
    """Beat: move generating campaigns on (a failed generation job sends no signal)."""
    generating = Campaign.objects.filter(status=Campaign.Status.GENERATING)
    for campaign in generating:
        campaigns.advance(campaign)
    return len(generating)
