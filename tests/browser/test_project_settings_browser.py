"""The project settings page in headless Chromium: an admin changes the overlap and adds a flag,
a reviewer is refused, and (with SETTINGS_SCREENSHOTS=folder) pictures of the page on a
desktop and a phone, where nothing may be wider than the screen."""

import os

import pytest
from django.urls import reverse

from labeling.models import Project
from pipelines import retraining
from pipelines.models import RetrainingSchedule

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def test_an_admin_changes_the_overlap_and_adds_a_flag(page, login, project, project_admin):
    Project.objects.filter(pk=project.pk).update(flags=["hallucination"])
    login(page, project_admin)
    # project admins who are not staff reach the console through its jobs page
    page.goto(reverse("dashboard-jobs", args=[project.slug]))
    page.get_by_role("link", name="Settings", exact=True).click()
    page.wait_for_selector("#project-settings")
    page.fill("#id_project-overlap", "3")
    flags = page.locator("#id_project-flags")
    flags.fill(flags.input_value() + "\nunsafe_advice")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_selector(".messages li.success")
    assert page.locator(".messages li").inner_text() == "Settings saved: overlap, flags."
    assert page.locator("#id_project-overlap").input_value() == "3"
    assert page.locator("#id_project-flags").input_value() == "hallucination\nunsafe_advice"
    project.refresh_from_db()
    assert (project.overlap, project.flags) == (3, ["hallucination", "unsafe_advice"])


def test_a_refused_value_is_shown_on_its_field(page, login, project, project_admin):
    login(page, project_admin)
    page.goto(reverse("dashboard-settings", args=[project.slug]))
    page.fill("#id_project-k_min", "8")
    page.fill("#id_project-k_max", "5")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("[data-field='k_max'] .errorlist")
    error.wait_for()
    assert error.inner_text() == "must be at least k_min (8)"
    project.refresh_from_db()
    assert (project.k_min, project.k_max) == (4, 9)


def test_a_reviewer_is_refused(page, login, project, reviewer):
    login(page, reviewer)
    assert page.goto(reverse("dashboard-settings", args=[project.slug])).status == 403


@pytest.mark.skipif(not os.environ.get("SETTINGS_SCREENSHOTS"), reason="pictures only when asked")
def test_screenshots(new_page, login, project, project_admin):
    folder = os.environ["SETTINGS_SCREENSHOTS"]
    Project.objects.filter(pk=project.pk).update(
        guidelines="Rank by helpfulness first, then harmlessness.\n\n**Ties** only when equal.",
        flags=["hallucination", "toxic", "unsafe_advice"],
    )
    retraining.save_schedule(
        RetrainingSchedule(project=project, kind="retrain_on_rankings", min_new_rankings=200)
    )
    retraining.save_schedule(RetrainingSchedule(project=project, kind="nightly_snapshot"))
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport)
        login(page, project_admin)
        page.goto(reverse("dashboard-settings", args=[project.slug]))
        page.wait_for_selector("#schedules")
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{name}: the page is {wider} px wider than the screen"
        page.screenshot(path=os.path.join(folder, f"settings-{name}.png"), full_page=True)
