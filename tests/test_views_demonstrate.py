"""The demonstration page and its queue."""

import pytest
from django.urls import reverse

from labeling.assignment import demonstrations
from labeling.intake import dedup
from labeling.models import Demonstration, Prompt


@pytest.fixture
def prompts(project):
    def make(text, **kwargs):
        return Prompt.objects.create(
            project=project, text=text, dedup_key=dedup.dedup_key(text, 200), **kwargs
        )

    return make


def test_write_a_demonstration(project, prompts, client, labeler):
    prompt = prompts("Write a haiku about <tags>.")
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    html = client.get(url).content.decode()
    assert "Write a haiku about &lt;tags&gt;." in html
    response = client.post(
        url, {"prompt_id": prompt.pk, "text": "Angle brackets", "seconds_spent": "33"}
    )
    assert response.status_code == 302
    demo = Demonstration.objects.get()
    assert (demo.prompt, demo.author, demo.text, demo.seconds_spent) == (
        prompt,
        labeler,
        "Angle brackets",
        33,
    )
    # Target reached (1 per prompt): nothing left to write.
    assert b"No prompt needs a demonstration" in client.get(url).content


def test_empty_text_is_refused(project, prompts, client, labeler):
    prompt = prompts("Say hi.")
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    response = client.post(url, {"prompt_id": prompt.pk, "text": "   "})
    assert response.status_code == 400 and not Demonstration.objects.exists()


def test_multi_turn_prompt_is_a_conversation(project, prompts, client, labeler):
    prompts(
        "",
        messages=[
            {"role": "user", "content": "Hi <there>"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Tell me a joke"},
        ],
    )
    client.force_login(labeler)
    html = client.get(reverse("demonstrate", args=[project.slug])).content.decode()
    assert html.count('class="turn turn-') == 3 and "Hi &lt;there&gt;" in html
    assert "as the next turn" in html


def test_skip_prompt(project, prompts, client, labeler):
    first = prompts("First prompt")
    prompts("Second prompt")
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    shown = demonstrations.next_prompt(project, labeler)
    client.post(url, {"prompt_id": shown.pk, "skip": "1"})
    html = client.get(url).content.decode()
    other = "Second prompt" if shown == first else "First prompt"
    assert other in html


def test_rejected_demonstration_reopens_prompt(project, prompts, labeler, other_labeler, reviewer):
    prompt = prompts("Explain tides.")
    demo = demonstrations.submit_demonstration(prompt, labeler, "Because of the moon.")
    assert demonstrations.next_prompt(project, other_labeler) is None
    demonstrations.review(demo, reviewer, accept=False, note="too short")
    assert demonstrations.next_prompt(project, other_labeler) == prompt
    assert demonstrations.next_prompt(project, labeler) is None  # never the same prompt twice


def test_bad_prompt_id_is_not_an_error(project, prompts, client, labeler):
    prompts("Anything.")
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    assert client.post(url, {"prompt_id": "abc", "text": "x"}).status_code == 302
    assert client.post(url, {"prompt_id": "999999", "skip": "1"}).status_code == 302
    assert not Demonstration.objects.exists()
