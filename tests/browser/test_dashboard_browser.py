"""The quality dashboard in headless Chromium: the demo campaign plus simulated labelers."""

import os

import pytest
from django.contrib.auth import get_user_model

from labeling.demo.campaign import PROJECT_SLUG, seed_demo
from labeling.demo.simulation import SimulationConfig, simulate
from labeling.models import Project, Qualification

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_campaign(db):
    seed_demo(reset_passwords=False)
    project = Project.objects.get(slug=PROJECT_SLUG)
    simulate(
        project,
        SimulationConfig(labelers=5, spammers=1, tasks=40, overlap=3, k_max=9, seed=3),
    )
    return project


@pytest.fixture
def staff(demo_campaign):
    return get_user_model().objects.get(username="admin")


def test_dashboard_renders_charts_and_sorts(page, login, staff, demo_campaign):
    login(page, staff)
    page.goto(f"/dashboard/{demo_campaign.slug}/")
    # plotly.js from the package drew every chart.
    for chart in ["throughput", "agreement", "flags", "pairs"]:
        page.wait_for_selector(f"#chart-{chart} .main-svg")
    assert page.locator("#labelers tbody tr").count() >= 6
    assert page.locator("#labelers tr.below[data-username='sim-labeler-6']").count() == 1
    if os.environ.get("DASHBOARD_SCREENSHOT"):  # a picture for humans, when asked
        page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"], full_page=True)
    overlap = page.locator("[data-stat=n_tasks_with_overlap]").inner_text()
    assert int(overlap) >= 30

    page.click("#labelers th a[data-sort=n_rankings]")  # ascending
    page.click("#labelers th a[data-sort=n_rankings]")  # then descending
    page.wait_for_url("**dir=desc**")
    counts = [int(c) for c in page.locator("#labelers tbody tr td:nth-child(4)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)

    page.select_option("#category", "chat")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**category=chat**")
    page.wait_for_selector("#summary")


def test_disagreements_side_by_side(page, login, staff, demo_campaign):
    login(page, staff)
    page.goto(f"/dashboard/{demo_campaign.slug}/disagreements/")
    first = page.locator("section.disagreement").first
    first.wait_for()
    headers = first.locator("thead th").all_inner_texts()
    assert headers[0] == "Response" and headers[-1] == "Consensus" and len(headers) >= 4


def test_screening_decision(page, login, staff, demo_campaign):
    login(page, staff)
    page.goto(f"/dashboard/{demo_campaign.slug}/screening/")
    row = page.locator("#candidates tr[data-username='sim-labeler-2']")
    row.locator("input[name=note]").fill("spot-checked")
    row.locator("button[value=revoked]").click()
    page.wait_for_selector("#candidates tr[data-username='sim-labeler-2'] td.qualified:text('no')")
    decision = Qualification.objects.get(user__username="sim-labeler-2")
    assert decision.decision == "revoked" and decision.note == "spot-checked"
