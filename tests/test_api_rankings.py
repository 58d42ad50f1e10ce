"""/api/v1/rankings/: read-only; a labeler's own, a reviewer's whole project."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/rankings/"


def test_matrix(clients, world):
    assert statuses(clients, "get", URL) == expect([401, 200, 200, 200, 200])
    counts = {
        r: len(clients[r].get(URL).json()["results"])
        for r in ("labeler", "other", "reviewer", "admin")
    }
    assert counts == {"labeler": 1, "other": 0, "reviewer": 1, "admin": 1}
    url = f"{URL}{world['ranking'].id}/"
    assert statuses(clients, "get", url) == expect([401, 200, 404, 200, 200])
    # read-only resource
    assert statuses(clients, "post", URL, {}) == expect([401, 405, 405, 405, 405])
    assert statuses(clients, "delete", url) == expect([401, 405, 405, 405, 405])


def test_body_and_filters(clients, world):
    body = clients["reviewer"].get(f"{URL}{world['ranking'].id}/").json()
    assert body["labeler"] == "lena" and body["is_current"] is True
    assert sorted(i["rank"] for i in body["items"]) == [1, 2, 3, 4]
    assert len(clients["reviewer"].get(URL + "?labeler=lena").json()["results"]) == 1
    assert clients["reviewer"].get(URL + "?labeler=omar").json()["results"] == []
    task = world["task"].pk
    assert (
        len(clients["reviewer"].get(f"{URL}?task={task}&project=campaign").json()["results"]) == 1
    )
    bad = clients["reviewer"].get(URL + "?task=abc")
    assert bad.status_code == 400 and "task" in bad.json()
