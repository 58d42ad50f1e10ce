"""Human evaluation in a real browser: an admin starts a campaign from the form, a labeler
ranks its blind pairs by keyboard, and the report page draws its charts."""

import os

import pytest

from evaluations.models import Campaign
from labeling import roles
from labeling.models import Ranking

from ..evaluation_world import STRONG, WEAK, answered_prompts
from .conftest import PHONE

pytestmark = pytest.mark.browser


def rank_pair(page, first_rating: int, second_rating: int):
    """Displayed answer 1 above answer 2, each rated, then submit (the labeler's keys)."""
    for number, rating in ((1, first_rating), (2, second_rating)):
        page.keyboard.press(str(number))
        page.keyboard.press("r")
        page.keyboard.press(str(rating))
        page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")


def test_a_campaign_from_the_form_ranked_in_the_browser_and_reported(
    page, new_page, login, project, labeler, admin_user
):
    project.gold_rate = 0
    project.save()
    answered_prompts(project, 4)
    roles.grant(admin_user, project, "admin")

    login(page, admin_user)
    page.goto(f"/dashboard/{project.slug}/evaluations/")
    page.fill("#id_name", "strong-vs-weak")
    page.select_option("#id_contestants", [f"model:{STRONG}", f"model:{WEAK}"])
    page.click("#new-campaign button[type=submit]")
    page.wait_for_url("**?campaign=*")
    campaign = Campaign.objects.get(name="strong-vs-weak")
    assert campaign.status == "open"
    page.wait_for_selector(f"#campaigns tr[data-campaign='{campaign.pk}']")

    ranker = new_page()
    login(ranker, labeler)
    ranker.goto(f"/p/{project.slug}/rank/")
    for _ in range(4):
        ranker.wait_for_selector("#board")
        body = ranker.content()
        assert STRONG not in body and WEAK not in body  # blind
        rank_pair(ranker, 6, 3)
    ranker.wait_for_selector("#queue-empty")
    assert Ranking.objects.filter(task__evaluation__campaign=campaign).count() == 4

    page.goto(f"/dashboard/{project.slug}/evaluations/?campaign={campaign.pk}&baseline={WEAK}")
    for chart in ("win-rate", "bt"):
        page.wait_for_selector(f"#chart-{chart} .main-svg")
    row = page.locator(f"#report-table tr[data-model='{STRONG}']")
    assert row.locator("[data-field=win_rate]").inner_text() not in ("", "–")
    shots = os.environ.get("EVALUATION_SCREENSHOTS")  # pictures for humans, when asked
    if shots:
        page.screenshot(path=f"{shots}/evaluations-desktop.png", full_page=True)
        phone = new_page(PHONE)
        login(phone, admin_user)
        phone.goto(page.url)
        phone.wait_for_selector("#chart-win-rate .main-svg")
        phone.screenshot(path=f"{shots}/evaluations-phone.png", full_page=True)
