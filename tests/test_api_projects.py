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


# One bad value per rule of labeling/projects.py, and the field it must be refused on.
RULES = [
    ({"slug": "bad slug"}, "slug"),
    ({"slug": ""}, "slug"),
    ({"slug": "s" * 65}, "slug"),
    ({"name": "  "}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"guidelines": "be\x00kind"}, "guidelines"),
    ({"k_min": 1}, "k_min"),
    ({"k_max": 10}, "k_max"),
    ({"k_min": 6, "k_max": 4}, "k_max"),
    ({"overlap": 0}, "overlap"),
    ({"overlap": 101}, "overlap"),
    ({"overlap": 2**40}, "overlap"),
    ({"allow_ties": "maybe"}, "allow_ties"),
    ({"gold_rate": -0.1}, "gold_rate"),
    ({"gold_rate": 3}, "gold_rate"),
    ({"lease_minutes": 0}, "lease_minutes"),
    ({"lease_minutes": 7 * 24 * 60 + 1}, "lease_minutes"),
    ({"likert_max": 1}, "likert_max"),
    ({"likert_max": 8}, "likert_max"),
    ({"flags": "nope"}, "flags"),
    ({"flags": [1]}, "flags"),
    ({"flags": ["Not a name"]}, "flags"),
    ({"flags": ["f" * 65]}, "flags"),
    ({"flags": ["harmful", "harmful"]}, "flags"),
    ({"split_fractions": {"train": 2}}, "split_fractions"),
    ({"split_fractions": {"dev": 1}}, "split_fractions"),
    ({"split_fractions": [1]}, "split_fractions"),
    ({"split_fractions": {"train": "0.5", "test": 0.5}}, "split_fractions"),
    ({"prompt_cap_per_user": 0}, "prompt_cap_per_user"),
    ({"dedup_prefix_chars": -1}, "dedup_prefix_chars"),
    ({"min_seconds_per_task": -1}, "min_seconds_per_task"),
    ({"min_seconds_per_task": 30 * 60}, "min_seconds_per_task"),  # not under the 30-min lease
]


def _stored(slug):
    from labeling.models import Project

    return Project.objects.filter(slug=slug).values().first()


@pytest.mark.parametrize("change, field", RULES + [({"slug": "campaign"}, "slug")])
def test_create_refuses_each_rule_on_its_field(clients, world, change, field):
    before = _stored("campaign")
    response = clients["admin"].post(URL, {"slug": "x", "name": "X", **change}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field], response.json()
    assert _stored("x") is None and _stored("campaign") == before


@pytest.mark.parametrize("change, field", RULES + [({"slug": "taken"}, "slug")])
def test_update_refuses_each_rule_on_its_field(clients, world, change, field):
    from labeling.models import Project

    Project.objects.create(slug="taken", name="Taken")
    before = _stored("campaign")
    response = clients["admin"].patch(URL + "campaign/", change, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field], response.json()
    assert _stored("campaign") == before


def test_missing_slug_or_name_is_refused(clients, world):
    for body, field in (({"name": "X"}, "slug"), ({"slug": "x"}, "name")):
        response = clients["admin"].post(URL, body, format="json")
        assert response.status_code == 400 and field in response.json()
    assert _stored("x") is None


def test_rules_between_settings_compare_with_the_stored_project(clients, world):
    """A change is checked against the settings it leaves as they are."""
    assert clients["admin"].patch(URL + "campaign/", {"k_max": 3}, format="json").json() == {
        "k_max": ["must be at least k_min (4)"]
    }
    ok = clients["admin"].patch(URL + "campaign/", {"min_seconds_per_task": 60}, format="json")
    assert ok.status_code == 200
    short = clients["admin"].patch(URL + "campaign/", {"lease_minutes": 1}, format="json")
    assert short.status_code == 400 and list(short.json()) == ["lease_minutes"]
    assert _stored("campaign")["lease_minutes"] == 30


def test_splits_and_dedup_are_fixed_once_the_project_has_prompts(clients, world):
    """A changed split would put an author's later prompts in another split, a changed
    prefix would let duplicates through: both are refused once prompts exist."""
    for change in ({"split_fractions": {"train": 1}}, {"dedup_prefix_chars": 50}):
        response = clients["admin"].patch(URL + "campaign/", change, format="json")
        assert response.status_code == 400 and list(response.json()) == list(change)
    # sent unchanged (a PUT sends every setting), they are no change
    same = clients["admin"].patch(
        URL + "campaign/",
        {"split_fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}},
        format="json",
    )
    assert same.status_code == 200
    created = clients["admin"].post(URL, {"slug": "fresh", "name": "Fresh"}, format="json")
    assert created.status_code == 201
    empty = clients["admin"].patch(URL + "fresh/", {"dedup_prefix_chars": 50}, format="json")
    assert empty.status_code == 200 and empty.json()["dedup_prefix_chars"] == 50


def test_create_and_replace_store_what_the_service_cleaned(clients, world):
    body = {
        "slug": "new_one", "name": "  New one  ", "k_min": 2, "k_max": 5, "overlap": 3,
        "allow_ties": False, "gold_rate": 0, "lease_minutes": 10, "likert_max": 5,
        "flags": ["too_long", "off_topic"], "split_fractions": {"train": 1},
        "prompt_cap_per_user": 10, "dedup_prefix_chars": 0, "min_seconds_per_task": 5,
    }  # fmt: skip
    response = clients["admin"].post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    stored = _stored("new_one")
    assert stored["name"] == "New one" and stored["gold_rate"] == 0.0
    assert stored["split_fractions"] == {"train": 1.0, "validation": 0.0, "test": 0.0}
    assert response.json()["split_fractions"] == stored["split_fractions"]
    assert response.json()["role"] == "admin"
    replaced = clients["admin"].put(URL + "new_one/", body | {"name": "Renamed"}, format="json")
    assert replaced.status_code == 200 and _stored("new_one")["name"] == "Renamed"


def test_agreement_filters_are_checked_by_the_statistics(clients, world):
    url = URL + "campaign/agreement/"
    response = clients["reviewer"].get(url, {"since": "2024-02-01", "until": "2024-01-01"})
    assert response.status_code == 400
    assert response.json() == {"until": ["must be later than since (until is exclusive)"]}


def test_session_auth_works_too(client, labeler, world):
    client.force_login(labeler)
    assert client.get(URL).status_code == 200
