"""Stored XSS: payloads saved in every user-written field render inert in Chromium.

Each payload, if it ran, would set ``window.__xss``. The pages that show the fields are
visited as the roles who see them; the payload must show as text (or, in the guidelines'
markdown, be stripped) and never run.
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from tests.api_world import fast_passwords  # noqa: F401

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
SVG = '"><svg onload=window.__xss=1>'
PAYLOADS = (IMG, SCRIPT, SVG)


@pytest.fixture
def stored(project, make_task, labeler, other_labeler, reviewer, admin_user):
    """The payloads in a prompt, its responses, a draft comment, a demonstration, the
    guidelines, a flag name and an evaluation campaign's name."""
    from evaluations.models import Campaign
    from labeling.assignment import engine
    from labeling.assignment.rankings import ItemInput
    from labeling.models import Demonstration

    project.guidelines = (
        f"# Rules\n\nBe kind. {IMG}\n\n{SCRIPT}\n\n[link](javascript:alert(1)) {SVG}"
    )
    project.flags = [*project.flags, "unsafe <img src=x onerror=window.__xss=1>"]
    project.overlap = 3
    project.gold_rate = 0
    project.save()
    task = make_task(k=4, prompt_text=f"Prompt {SCRIPT}", texts=[*PAYLOADS, "plain"])
    for user, ranks in ((other_labeler, (1, 2, 3, 4)), (reviewer, (4, 3, 2, 1))):
        held = engine.next_assignment(project, user)
        assert held.task_id == task.pk
        engine.submit_ranking(
            held, user, [ItemInput(rank=r, likert=3) for r in ranks], comment=f"Comment {SVG}"
        )
    mine = engine.next_assignment(project, labeler)
    engine.save_draft(mine, labeler, {"comment": f"Draft {IMG}"})
    Demonstration.objects.create(prompt=task.prompt, author=labeler, text=f"Answer {SVG}")
    Campaign.objects.create(project=project, name=f"Round {SCRIPT}"[:100])
    return project


def _inert(page, url, *texts):
    page.goto(url)
    page.wait_for_load_state("load")
    assert page.evaluate("window.__xss") is None, url
    body = page.inner_text("body")
    for text in texts:
        assert text in body or text in page.input_value("#comment"), (url, text)


def test_payloads_render_as_text_for_the_labeler(stored, page, login, labeler):
    login(page, labeler)
    _inert(page, f"/p/{stored.slug}/rank/", f"Prompt {SCRIPT}", IMG, SVG, f"Draft {IMG}")
    assert "unsafe &lt;img" in page.content().lower()  # the flag's label, escaped
    # markdown may hold HTML: nh3 strips the tags, handlers and javascript: links
    assert "Be kind." in page.text_content(".guidelines-body")
    html = page.inner_html(".guidelines-body").lower()
    assert not [bad for bad in ("<svg", "<script", "onerror", "javascript:") if bad in html]
    _inert(page, f"/p/{stored.slug}/demonstrate/")


def test_payloads_render_as_text_for_the_reviewer(stored, page, login, reviewer):
    login(page, reviewer)
    _inert(page, f"/p/{stored.slug}/review/", f"Answer {SVG}")
    _inert(page, f"/dashboard/{stored.slug}/disagreements/", f"Prompt {SCRIPT}")
    _inert(page, f"/dashboard/{stored.slug}/", stored.name)


def test_payloads_render_as_text_for_admins(stored, page, login, project_admin, admin_user):
    login(page, project_admin)
    _inert(page, f"/dashboard/{stored.slug}/settings/")
    assert "unsafe &lt;img" in page.content()
    login(page, admin_user)
    _inert(page, f"/dashboard/{stored.slug}/evaluations/", f"Round {SCRIPT}")
