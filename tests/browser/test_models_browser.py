"""The models page in headless Chromium: plotly draws the checkpoint lineage (snapshot → SFT →
RM → PPO → evaluation), a checkpoint downloads as a zip, and (with MODELS_SCREENSHOTS=folder)
pictures of the page on a desktop and a phone."""

import io
import os
import zipfile

import pytest
from django.urls import reverse

from ..test_models_page import build_world
from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def world(project, settings, tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    settings.PREFLAB_ARTIFACTS_DIR = folder
    return build_world(project, folder)


def _open(page, login, project, user):
    login(page, user)
    page.goto(reverse("dashboard-models", args=[project.slug]))
    page.wait_for_selector("#chart-lineage .main-svg")


def test_the_lineage_graph_shows_sft_rm_and_ppo(page, login, project, project_admin, world):
    _open(page, login, project, project_admin)
    labels = page.locator("#chart-lineage .textpoint").all_text_contents()
    for name in ("sft", "rm", "policy"):
        assert f"{name} #{world[name].pk}" in labels, labels
    assert f"evaluation {world['evaluation'].pk}" in labels
    # one arrow per edge, and the RM → PPO one labelled
    assert page.locator("#chart-lineage .annotation").count() >= 8
    graph = page.locator("#chart-lineage").text_content()
    assert "reward" in graph and "win rate 0.625" in graph
    # the column heads read snapshot, base, sft, rm, policy, evaluation
    ticks = page.locator("#chart-lineage .xtick text").all_text_contents()
    assert ticks == ["snapshot", "base", "sft", "rm", "policy", "evaluation"]


def test_a_phone_turns_the_graph_a_quarter(new_page, login, project, project_admin, world):
    page = new_page(PHONE)
    _open(page, login, project, project_admin)
    page.wait_for_function("document.querySelectorAll('#chart-lineage .ytick text').length === 6")
    ticks = page.locator("#chart-lineage .ytick text").all_text_contents()
    assert ticks == ["snapshot", "base", "sft", "rm", "policy", "evaluation"]
    labels = page.locator("#chart-lineage .textpoint").all_text_contents()
    assert f"policy #{world['policy'].pk}" in labels
    # the chart grew to hold the six kinds, and its wrapper with it
    heights = page.evaluate(
        "() => { const g = document.getElementById('chart-lineage');"
        " return [g.offsetHeight, g.parentElement.offsetHeight]; }"
    )
    assert heights[0] > 500 and heights[1] >= heights[0], heights


def test_a_checkpoint_downloads_as_a_zip(page, login, project, project_admin, world):
    _open(page, login, project, project_admin)
    with page.expect_download() as info:
        page.locator(f"tr[data-checkpoint='{world['sft'].pk}'] a.download").click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    with open(download.path(), "rb") as file:
        names = zipfile.ZipFile(io.BytesIO(file.read())).namelist()
    assert sorted(names) == ["config.json", "weights/model.bin"]


@pytest.mark.skipif(not os.environ.get("MODELS_SCREENSHOTS"), reason="pictures only when asked")
def test_screenshots(new_page, login, project, project_admin, world):
    folder = os.environ["MODELS_SCREENSHOTS"]
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport)
        _open(page, login, project, project_admin)
        page.wait_for_timeout(500)  # the load event's resize
        page.screenshot(path=os.path.join(folder, f"models-{name}.png"), full_page=True)
