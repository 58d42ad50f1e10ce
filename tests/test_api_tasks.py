"""/api/v1/tasks/: matrix, create, next, submit, skip; labelers never see gold."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from labeling.models import Assignment, Ranking

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/tasks/"
ITEMS = [{"rank": r, "likert": 5, "flags": []} for r in (2, 1, 4, 3)]


def test_matrix_read(clients, world):
    assert statuses(clients, "get", URL) == expect([401, 200, 200, 200, 200])
    seen = {
        role: len(clients[role].get(URL).json()["results"])
        for role in ("labeler", "other", "reviewer", "admin")
    }
    assert seen == {"labeler": 1, "other": 0, "reviewer": 2, "admin": 2}
    url = f"{URL}{world['task'].pk}/"
    assert statuses(clients, "get", url) == expect([401, 200, 404, 200, 200])


def test_matrix_create(clients, world):
    def body(role):
        from labeling.models import Response

        prompt = world["open_task"].prompt
        responses = list(Response.objects.filter(prompt=prompt).values_list("pk", flat=True))
        return {"project": "campaign", "prompt": prompt.pk, "responses": responses}

    assert statuses(clients, "post", URL, body) == expect([401, 403, 403, 201, 201])


def test_matrix_next_submit_skip(clients, world):
    codes = statuses(clients, "post", URL + "next/", {"project": "campaign"})
    assert codes["anonymous"] == 401
    assert {codes[r] for r in ("labeler", "other", "reviewer", "admin")} <= {200, 204}
    url = f"{URL}{world['task'].pk}/submit/"
    # lena re-submitting her submitted assignment gets the recorded ranking back;
    # omar cannot see the task; reviewer and admin hold no assignment on it.
    assert statuses(clients, "post", url, {"items": ITEMS}) == expect([401, 201, 404, 400, 400])
    url = f"{URL}{world['task'].pk}/skip/"
    assert statuses(clients, "post", url, {"reason": "unclear"}) == expect(
        [401, 400, 404, 400, 400]
    )


def test_labeler_round_trip(clients, world, other_labeler):
    omar = clients["other"]
    got = omar.post(URL + "next/", {"project": "campaign"}, format="json")
    assert got.status_code == 200
    body = got.json()
    task = body["task"]
    assert "is_gold" not in task and "gold_ranks" not in task
    assert sorted(body["display_order"]) == list(range(task["k"]))
    assert [r["position"] for r in task["responses"]] == list(range(task["k"]))
    # the same open assignment comes back until it is done
    assert omar.post(URL + "next/", {"project": "campaign"}, format="json").json() == body
    submit = {"items": ITEMS, "submission_key": "k-1", "seconds_spent": 3}
    done = omar.post(f"{URL}{task['id']}/submit/", submit, format="json")
    assert done.status_code == 201, done.json()
    rank_of = {i["response"]: i["rank"] for i in done.json()["items"]}
    assert [rank_of[r["id"]] for r in task["responses"]] == [2, 1, 4, 3]
    # a retried POST with the same key records nothing new
    again = omar.post(f"{URL}{task['id']}/submit/", submit, format="json")
    assert again.json()["id"] == done.json()["id"]
    assert Ranking.objects.filter(labeler=other_labeler).count() == 1
    # and the task is now visible to omar in his list
    assert [t["id"] for t in omar.get(URL).json()["results"]] == [task["id"]]


@pytest.mark.parametrize(
    "items, field",
    [
        ([{"rank": 1, "likert": 5}] * 3, "ranks"),
        ([{"rank": r, "likert": 9} for r in (1, 2, 3, 4)], "likert"),
        ([{"rank": r, "likert": 5, "flags": ["nope"]} for r in (1, 2, 3, 4)], "flags"),
        ([{"rank": r} for r in (1, 2, 3, 4)], "likert"),
        ("not a list", "items"),
    ],
)
def test_submit_errors_name_the_field(clients, world, items, field):
    got = clients["other"].post(URL + "next/", {"project": "campaign"}, format="json").json()
    response = clients["other"].post(
        f"{URL}{got['task']['id']}/submit/", {"items": items}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_an_over_long_comment_is_refused(clients, world):
    """The comment limit is the ranking service's, whichever way a ranking comes in."""
    got = clients["other"].post(URL + "next/", {"project": "campaign"}, format="json").json()
    body = {"items": ITEMS, "comment": "x" * 5001}
    response = clients["other"].post(f"{URL}{got['task']['id']}/submit/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"comment": ["at most 5000 characters"]}
    assert not Ranking.objects.filter(labeler=clients["other"].user).exists()


def test_skip(clients, world, other_labeler):
    got = clients["other"].post(URL + "next/", {"project": "campaign"}, format="json").json()
    url = f"{URL}{got['task']['id']}/skip/"
    assert clients["other"].post(url, {"reason": ""}, format="json").status_code == 400
    skipped = clients["other"].post(url, {"reason": "I can't judge code"}, format="json")
    assert skipped.status_code == 200 and skipped.json()["status"] == "skipped"
    assert Assignment.objects.get(labeler=other_labeler).skip_reason == "I can't judge code"
    # nothing left for omar
    assert (
        clients["other"].post(URL + "next/", {"project": "campaign"}, format="json").status_code
        == 204
    )


def test_next_needs_membership(clients, world):
    from labeling.models import Project

    Project.objects.create(slug="elsewhere", name="Elsewhere")
    response = clients["labeler"].post(URL + "next/", {"project": "elsewhere"}, format="json")
    assert response.status_code == 400 and "project" in response.json()


def test_gold_is_hidden_from_labelers(clients, project, make_task, labeler):
    gold = make_task(k=4, is_gold=True, gold_ranks=[1, 2, 3, 4])
    assert clients["reviewer"].get(f"{URL}{gold.pk}/").json()["is_gold"] is True
    assert clients["reviewer"].get(URL + "?is_gold=true").json()["results"][0]["id"] == gold.pk
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Assignment as A

    now = timezone.now()
    A.objects.create(
        task=gold, labeler=labeler, leased_at=now, expires_at=now + timedelta(minutes=5)
    )
    assert "is_gold" not in clients["labeler"].get(f"{URL}{gold.pk}/").json()
    assert clients["labeler"].get(URL + "?is_gold=true").json()["results"] == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"responses": [1]}, "responses"),
        ({"overlap": 0}, "overlap"),
        ({"overlap": 101}, "overlap"),
        ({"responses": [999999, 999998, 999997, 999996]}, "responses"),
        ({"prompt": 999999}, "prompt"),
        ({"is_gold": True}, "ranks"),
        ({"project": "nope"}, "project"),
    ],
)
def test_create_errors_name_the_field(clients, world, change, field):
    from labeling.models import Response

    prompt = world["open_task"].prompt
    body = {
        "project": "campaign",
        "prompt": prompt.pk,
        "responses": list(Response.objects.filter(prompt=prompt).values_list("pk", flat=True)),
        **change,
    }
    from labeling.models import RankingTask

    before = RankingTask.objects.count()
    response = clients["reviewer"].post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert RankingTask.objects.count() == before  # the service refused: nothing written
