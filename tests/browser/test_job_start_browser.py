"""Starting a job from the training console in headless Chromium: the project's admin picks
SFT on the tiny model (the form refills its defaults through htmx), submits a small config,
lands on the job's page and watches a real Celery worker run it to the end through the page's
polling. With JOBS_SCREENSHOTS=folder, pictures of the form on a desktop and a phone."""

import json
import os
import re

import pytest
from django.urls import reverse

from tests.test_run_pipeline import start_worker
from tests.training_world import fill_campaign
from training.models import Checkpoint, TrainingJob

from .conftest import PHONE

pytestmark = pytest.mark.browser

SMALL_SFT = {"max_steps": 2, "epochs": 1, "batch_size": 2, "max_length": 64}
# htmx marks a request, a swap and the new content until it has settled; a select's own
# hx-get is bound by then. A change made before that can go unheard (seen once in CI).
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def _htmx_idle(page):
    page.wait_for_function(f"() => !document.querySelector({HTMX_BUSY!r})")


def _phone_screenshot(new_page, login, user, url, folder):
    phone = new_page(PHONE)
    login(phone, user)
    phone.goto(url)
    phone.wait_for_selector("#job-start-fields")
    phone.screenshot(path=os.path.join(folder, "job-start-phone.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.training
def test_start_an_sft_job_and_watch_it_finish(
    real_services, page, new_page, login, project, project_admin, labeler, make_task,
    tiny_path, tmp_path, settings,
):  # fmt: skip
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path
    fill_campaign(project, make_task, labeler, n=4, validation_every=4)
    tiny = Checkpoint.objects.create(name="tiny", kind="base", path=str(tiny_path))
    login(page, project_admin)
    page.goto(reverse("dashboard-jobs", args=[project.slug]))
    page.click("#start-job")
    page.wait_for_selector("#job-start")
    page.wait_for_load_state()  # htmx binds the selects once the document has loaded
    assert page.locator("#id_kind").input_value() == "sft"

    # a new model refills the fields, its size said beside the size the machine picks
    page.select_option("#id_base_checkpoint", str(tiny.pk))
    page.wait_for_selector("#size-note:has-text('M parameters')")
    _htmx_idle(page)
    assert page.locator("#id_base_checkpoint").input_value() == str(tiny.pk)
    assert json.loads(page.locator("#id_config").input_value())["epochs"] == 3
    # a new kind too: PPO's config and its reward model
    page.select_option("#id_kind", "ppo")
    page.wait_for_selector("#id_reward_checkpoint")
    _htmx_idle(page)
    assert "rollouts_per_step" in json.loads(page.locator("#id_config").input_value())
    page.select_option("#id_kind", "sft")
    # the swap is done when the reward model is gone; the chosen model was sent along
    page.wait_for_selector("#id_reward_checkpoint", state="detached")
    _htmx_idle(page)
    assert page.locator("#id_base_checkpoint").input_value() == str(tiny.pk)
    page.fill("#id_config", json.dumps(SMALL_SFT, indent=2))
    shots = os.environ.get("JOBS_SCREENSHOTS")  # pictures for humans, when asked
    if shots:
        page.screenshot(path=os.path.join(shots, "job-start-desktop.png"), full_page=True)
        _phone_screenshot(new_page, login, project_admin, page.url, shots)

    worker = start_worker(tmp_path)
    try:
        page.click("#job-start-submit")
        page.wait_for_url(re.compile(r"/jobs/\d+/$"))
        job = TrainingJob.objects.get()
        assert page.url.endswith(reverse("dashboard-job", args=[project.slug, job.pk]))
        assert (job.kind, job.base_checkpoint, job.config) == ("sft", tiny, SMALL_SFT)
        # the page polls every 3 s; the worker loads the tiny model and takes two steps
        page.wait_for_selector("#job-status:has-text('succeeded')", timeout=90_000)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert page.locator("#job-state progress").get_attribute("value") == "1.000"
    assert job.output_checkpoint is not None and job.output_checkpoint.kind == "sft"
