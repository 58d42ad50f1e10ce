"""The labeler's day in a real browser: login, demonstration, ranking by keyboard and by
drag and drop, skip, draft kept across a reload, escaped user text. Each checks the database."""

import os
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session

from labeling.assignment import engine
from labeling.intake import dedup
from labeling.models import Assignment, Demonstration, Prompt, Ranking

from .conftest import PHONE

pytestmark = pytest.mark.browser


def ranks_by_number(ranking, labeler):
    """{on-page number: (rank, likert)} for a stored ranking."""
    task = ranking.task
    order = engine.display_order(task, labeler)
    responses = task.ordered_responses()
    items = {i.response_id: (i.rank, i.likert) for i in ranking.items.all()}
    return {n: items[responses[pos].pk] for n, pos in enumerate(order, start=1)}


def open_task(page, project):
    page.goto(f"/p/{project.slug}/rank/")
    page.wait_for_selector("#board")


def test_login(page, labeler):
    page.goto("/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pw-lena")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Hello, lena")
    sessions = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert str(labeler.pk) in sessions


def test_write_a_demonstration(page, login, project, labeler):
    text = "Summarise the water cycle."
    prompt = Prompt.objects.create(project=project, text=text, dedup_key=dedup.dedup_key(text, 200))
    login(page, labeler)
    page.goto(f"/p/{project.slug}/demonstrate/")
    page.wait_for_selector("text=Summarise the water cycle.")
    page.fill("textarea[name=text]", "Water evaporates, condenses and falls as rain.")
    page.reload()  # the text being written survives a reload
    text = page.input_value("textarea[name=text]")
    assert text == "Water evaporates, condenses and falls as rain."
    page.click("#submit-demonstration")
    page.wait_for_selector("text=Demonstration saved")
    demo = Demonstration.objects.get()
    assert (demo.prompt_id, demo.author_id) == (prompt.pk, labeler.pk)
    assert demo.text == "Water evaporates, condenses and falls as rain."
    assert demo.status == "pending" and demo.seconds_spent > 0


def test_rank_six_by_keyboard_with_a_tie(page, login, project, make_task, labeler):
    make_task(k=6)
    login(page, labeler)
    open_task(page, project)
    for number in range(1, 7):
        page.keyboard.press(str(number))
        page.keyboard.press("r")
        page.keyboard.press(str(number))  # rating = its number, easy to check
        page.keyboard.press("Enter")
    # Response 6 joins rank 5; then response 1 moves down one rank and back up.
    page.keyboard.press("6")
    page.keyboard.press("t")
    page.keyboard.press("1")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert page.locator("#board .rank-group.tied").count() == 1
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty")
    ranking = Ranking.objects.get(labeler=labeler)
    assert ranks_by_number(ranking, labeler) == {
        1: (1, 1),
        2: (2, 2),
        3: (3, 3),
        4: (4, 4),
        5: (5, 5),
        6: (5, 6),
    }
    assert ranking.assignment.status == "submitted" and ranking.seconds_spent >= 0


def drag(page, number, target):
    page.locator(f'.chip[data-number="{number}"]').drag_to(page.locator(target))


def test_rank_four_by_drag_and_drop(page, login, project, make_task, labeler):
    make_task(k=4)
    login(page, labeler)
    open_task(page, project)
    for number in (3, 1, 4, 2):
        drag(page, number, "#board .gap-end")
    drag(page, 2, '#board .rank-group[data-rank="3"]')  # 2 ties with 4
    drag(page, 1, "#board .gap >> nth=0")  # 1 becomes the best
    for number in range(1, 5):
        page.click(f"#response-{number} .likert-option:nth-of-type({number + 2}) span")
    page.click("#submit-ranking")
    page.wait_for_selector("#queue-empty")
    ranking = Ranking.objects.get(labeler=labeler)
    assert {n: r for n, (r, _) in ranks_by_number(ranking, labeler).items()} == {
        1: 1,
        3: 2,
        4: 3,
        2: 3,
    }
    assert {n: lk for n, (_, lk) in ranks_by_number(ranking, labeler).items()} == {
        1: 3,
        2: 4,
        3: 5,
        4: 6,
    }


def test_client_validation_blocks_incomplete_submit(page, login, project, make_task, labeler):
    make_task(k=4)
    login(page, labeler)
    open_task(page, project)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.click("#submit-ranking")
    page.wait_for_selector("#client-errors li")
    assert "Response 1 is not ranked yet." in page.inner_text("#client-errors")
    assert not Ranking.objects.exists()


def test_skip(page, login, project, make_task, labeler):
    task = make_task(k=4)
    login(page, labeler)
    open_task(page, project)
    page.click("text=Skip this task")
    page.select_option("#id_reason", "unclear")
    page.fill("#id_detail", "half the prompt is missing")
    page.click("#skip-button")
    page.wait_for_selector("#queue-empty")
    a = Assignment.objects.get(task=task, labeler=labeler)
    assert a.status == "skipped"
    assert a.skip_reason == "The prompt is unclear or broken: half the prompt is missing"


def test_reload_keeps_the_draft(page, login, project, make_task, labeler):
    make_task(k=5)
    login(page, labeler)
    open_task(page, project)
    for number in (4, 2):
        page.keyboard.press(str(number))
        page.keyboard.press("Enter")
    page.keyboard.press("r")
    page.keyboard.press("6")  # response 2 rated 6
    page.fill("#comment", "coming back to this")
    page.click("#response-1 .flags summary")
    page.check("#response-1 input[value=hallucination]")
    page.wait_for_selector("#ranking-form[data-draft-saved=yes]")
    page.wait_for_function("document.getElementById('seconds-spent').value >= 2")
    page.reload()
    page.wait_for_selector("#board .rank-group")
    groups = page.locator("#board .rank-group").all_inner_texts()
    assert len(groups) == 2 and groups[0].startswith("Rank 1") and "4" in groups[0]
    assert page.is_checked('#response-2 input[type=radio][value="6"]')
    assert page.is_checked("#response-1 input[value=hallucination]")
    assert page.input_value("#comment") == "coming back to this"
    assert float(page.input_value("#seconds-spent")) >= 2
    a = Assignment.objects.get(labeler=labeler)
    order = engine.display_order(a.task, labeler)
    assert a.draft["groups"] == [[order[3]], [order[1]]]
    assert a.draft["likert"] == {str(order[1]): 6}
    assert a.draft["comment"] == "coming back to this"


def test_script_in_a_response_is_shown_as_text(page, login, project, make_task, labeler):
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    task = make_task(k=4, texts=[payload, "two", "three", "four"], prompt_text=payload + "?")
    login(page, labeler)
    open_task(page, project)
    number = engine.display_order(task, labeler).index(0) + 1
    assert page.inner_text(f"#response-{number} .response-text") == payload
    assert payload in page.inner_text(".prompt-text")
    assert page.locator(f'.chip[data-number="{number}"] .snippet').inner_text() == payload[:60]
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img, main script:not([type='application/json'])").count() == 0
    assert Prompt.objects.get(pk=task.prompt_id).text == payload + "?"
    assert Assignment.objects.get(labeler=labeler).status == "active"


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_ranking_page_fits_the_screen(new_page, login, project, make_task, labeler, viewport):
    long = "A fairly long response that goes on. " * 12
    make_task(k=6, texts=[f"{i}. {long}" for i in range(6)], prompt_text="Explain photosynthesis.")
    page = new_page(viewport)
    login(page, labeler)
    open_task(page, project)
    for number in (2, 5, 1):
        page.keyboard.press(str(number))
        page.keyboard.press("Enter")
    page.keyboard.press("t")
    page.keyboard.press("r")
    page.keyboard.press("5")
    scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll[0] <= scroll[1], f"horizontal scroll: {scroll}"
    shots = os.environ.get("PREFLAB_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        name = "ranking-phone" if viewport else "ranking-desktop"
        page.screenshot(path=str(Path(shots) / f"{name}.png"))
        if viewport:  # on a phone the board comes after the responses
            page.locator("#ranking").scroll_into_view_if_needed()
            page.screenshot(path=str(Path(shots) / f"{name}-board.png"))


def test_reviewer_rejects_with_a_note(page, login, project, labeler, reviewer):
    from labeling.assignment import demonstrations

    text = "Name a planet."
    prompt = Prompt.objects.create(project=project, text=text, dedup_key=dedup.dedup_key(text, 200))
    demo = demonstrations.submit_demonstration(prompt, labeler, "The Moon.")
    login(page, reviewer)
    page.goto(f"/p/{project.slug}/review/")
    item = page.locator(f"#demo-{demo.pk}")
    item.locator("button[value=reject]").click()
    page.wait_for_selector("text=say why the demonstration is rejected")  # swapped in by htmx
    page.fill(f"#note-{demo.pk}", "The Moon is not a planet.")
    page.locator(f"#demo-{demo.pk} button[value=reject]").click()
    page.wait_for_selector(f"#demo-{demo.pk} .review-result.rejected")
    demo.refresh_from_db()
    assert (demo.status, demo.review_note, demo.reviewed_by_id) == (
        "rejected",
        "The Moon is not a planet.",
        reviewer.pk,
    )
