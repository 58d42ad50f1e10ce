"""/api/v1/projects/: role matrix, create/update rules, field-named errors, agreement."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/"


def test_matrix_read(clients, world):
    assert statuses(clients, "get", URL) == expect([401, 200, 200, 200, 200])
    assert statuses(clients, "get", URL + "campaign/") == expect([401, 200, 200, 200, 200])


def test_matrix_write(clients, world):
    new = lambda role: {"slug": f"p-{role}", "name": "New"}  # noqa: E731
    assert statuses(clients, "post", URL, new) == expect([401, 403, 403, 403, 201])
    patch = {"guidelines": "Be kind."}
    assert statuses(clients, "patch", URL + "campaign/", patch) == expect([401, 403, 403, 403, 200])


def test_matrix_agreement(clients, world):
    pytest.importorskip("labeling.quality.agreement")
    url = URL + "campaign/agreement/"
    assert statuses(clients, "get", url) == expect([401, 403, 403, 200, 200])


def test_list_shows_only_member_projects(clients, world):
    from labeling.models import Project

    Project.objects.create(slug="secret", name="Secret")
    slugs = [p["slug"] for p in clients["labeler"].get(URL).json()["results"]]
    assert slugs == ["campaign"]
    assert clients["labeler"].get(URL + "secret/").status_code == 404
    assert {p["slug"] for p in clients["admin"].get(URL).json()["results"]} == {
        "campaign",
        "secret",
    }
    assert clients["reviewer"].get(URL + "campaign/").json()["role"] == "reviewer"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"slug": "x", "name": "X", "k_min": 6, "k_max": 4}, "k_max"),
        ({"slug": "x", "name": "X", "split_fractions": {"train": 2}}, "split_fractions"),
        ({"slug": "x", "name": "X", "gold_rate": 3}, "gold_rate"),
        ({"slug": "bad slug", "name": "X"}, "slug"),
        ({"slug": "campaign", "name": "X"}, "slug"),
        ({"name": "X"}, "slug"),
        ({"slug": "x", "name": "X", "flags": "nope"}, "flags"),
    ],
)
def test_errors_name_the_field(clients, world, body, field):
    response = clients["admin"].post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_session_auth_works_too(client, labeler, world):
    client.force_login(labeler)
    assert client.get(URL).status_code == 200
