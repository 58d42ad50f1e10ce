"""Reviewers accept or reject demonstrations with a note."""

import pytest
from django.urls import reverse

from labeling.assignment import demonstrations
from labeling.intake import dedup
from labeling.models import Prompt


@pytest.fixture
def demo(project, labeler):
    prompt = Prompt.objects.create(
        project=project, text="Name a color.", dedup_key=dedup.dedup_key("Name a color.", 200)
    )
    return demonstrations.submit_demonstration(prompt, labeler, "<i>Blue</i>")


def test_reviewer_sees_and_accepts(project, demo, client, reviewer):
    client.force_login(reviewer)
    html = client.get(reverse("review", args=[project.slug])).content.decode()
    assert "&lt;i&gt;Blue&lt;/i&gt;" in html
    url = reverse("review-decide", args=[project.slug, demo.pk])
    response = client.post(url, {"decision": "accept", "note": "fine"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"Accepted" in response.content
    demo.refresh_from_db()
    assert (demo.status, demo.review_note, demo.reviewed_by) == ("accepted", "fine", reviewer)


def test_reject_needs_a_note(project, demo, client, reviewer):
    client.force_login(reviewer)
    url = reverse("review-decide", args=[project.slug, demo.pk])
    response = client.post(url, {"decision": "reject", "note": ""}, HTTP_HX_REQUEST="true")
    assert b"say why" in response.content
    demo.refresh_from_db()
    assert demo.status == "pending"
    client.post(url, {"decision": "reject", "note": "wrong format"})
    demo.refresh_from_db()
    assert (demo.status, demo.review_note) == ("rejected", "wrong format")


def test_labeler_cannot_review(project, demo, client, other_labeler):
    client.force_login(other_labeler)
    assert client.get(reverse("review", args=[project.slug])).status_code == 403
    url = reverse("review-decide", args=[project.slug, demo.pk])
    assert client.post(url, {"decision": "accept"}).status_code == 403


def test_no_self_review(project, client, reviewer):
    prompt = Prompt.objects.create(project=project, text="x", dedup_key="x")
    mine = demonstrations.submit_demonstration(prompt, reviewer, "my own")
    with pytest.raises(demonstrations.DemonstrationError, match="your own"):
        demonstrations.review(mine, reviewer, accept=True)
