"""/api/v1/demonstrations/: labelers write and see their own, reviewers review."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from labeling.limits import MAX_DEMONSTRATION_CHARS

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/demonstrations/"


def test_matrix(clients, world):
    assert statuses(clients, "get", URL) == expect([401, 200, 200, 200, 200])
    counts = {
        r: len(clients[r].get(URL).json()["results"])
        for r in ("labeler", "other", "reviewer", "admin")
    }
    assert counts == {"labeler": 1, "other": 0, "reviewer": 1, "admin": 1}
    url = f"{URL}{world['demo'].pk}/"
    assert statuses(clients, "get", url) == expect([401, 200, 404, 200, 200])
    prompt = world["task"].prompt_id
    body = lambda role: {"prompt": prompt, "text": f"My ideal answer ({role})"}  # noqa: E731
    # lena wrote for this prompt already: one demonstration per author and prompt
    assert statuses(clients, "post", URL, body) == expect([401, 400, 201, 201, 201])
    review = {"status": "accepted", "review_note": "good"}
    # rita accepts it; then it is reviewed, and no one reviews it again
    assert statuses(clients, "post", url + "review/", review) == expect([401, 403, 404, 200, 400])


def test_create_sets_author_and_pending(clients, world):
    response = clients["other"].post(
        URL,
        {"prompt": world["task"].prompt_id, "text": "Answer", "status": "accepted"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["author"] == "omar" and response.json()["status"] == "pending"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"prompt": "abc", "text": "x"}, "prompt"),
        ({"prompt": 999999, "text": "x"}, "prompt"),
        ({"prompt": None, "text": "x"}, "prompt"),
        ({"text": "   "}, "text"),
        ({"text": "x", "seconds_spent": -1}, "seconds_spent"),
        # the service's range: a NaN or infinite time was stored and broke every listing
        ({"text": "x", "seconds_spent": "NaN"}, "seconds_spent"),
        ({"text": "x", "seconds_spent": "Infinity"}, "seconds_spent"),
        ({"text": "x", "seconds_spent": 1e8}, "seconds_spent"),
    ],
)
def test_errors_name_the_field(clients, world, body, field):
    body = {"prompt": world["task"].prompt_id, **body}
    response = clients["labeler"].post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_review_flow(clients, world):
    url = f"{URL}{world['demo'].pk}/review/"
    bad = clients["reviewer"].post(url, {"status": "great"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()
    ok = clients["reviewer"].post(
        url, {"status": "rejected", "review_note": "too short"}, format="json"
    )
    assert ok.json()["status"] == "rejected" and ok.json()["reviewed_by"] == "rita"
    assert (
        clients["reviewer"].get(URL + "?status=rejected").json()["results"][0]["id"]
        == world["demo"].pk
    )


def test_the_api_keeps_the_demonstration_rules(clients, world):
    """What the web UI refuses, the API refuses: the rules live in one service."""
    labeler, reviewer = clients["labeler"], clients["reviewer"]
    prompt = world["task"].prompt_id
    twice = labeler.post(URL, {"prompt": prompt, "text": "Again"}, format="json")
    assert twice.status_code == 400
    assert twice.json() == {"prompt": ["you already wrote a demonstration for this prompt"]}
    n = MAX_DEMONSTRATION_CHARS
    text = "x" * (n + 1)
    long = clients["other"].post(URL, {"prompt": prompt, "text": text}, format="json")
    assert long.status_code == 400
    assert long.json() == {"text": [f"at most {n} characters (this has {n + 1})"]}

    own = reviewer.post(URL, {"prompt": prompt, "text": "Rita's answer"}, format="json").json()
    accept = {"status": "accepted", "review_note": ""}
    response = reviewer.post(f"{URL}{own['id']}/review/", accept, format="json")
    assert response.status_code == 400
    assert response.json() == {"reviewer": ["you cannot review your own demonstration"]}

    url = f"{URL}{world['demo'].pk}/review/"
    response = reviewer.post(url, {"status": "rejected", "review_note": ""}, format="json")
    assert response.status_code == 400
    assert response.json() == {"review_note": ["say why the demonstration is rejected"]}
    assert reviewer.post(url, accept, format="json").status_code == 200
    back = reviewer.post(url, {"status": "pending"}, format="json")
    assert back.status_code == 400 and "status" in back.json()
    world["demo"].refresh_from_db()
    assert world["demo"].status == "accepted"
