"""The staff dashboard: access, numbers, sorting, charts, disagreements, plotly.js."""

import pytest
from django.urls import reverse

from labeling.demo.simulation import SimulationConfig, simulate


@pytest.fixture
def campaign(project):
    simulate(
        project,
        SimulationConfig(labelers=5, spammers=1, tasks=30, overlap=3, noise=0.3, seed=1),
    )
    return project


def test_staff_only(client, campaign, labeler):
    url = reverse("dashboard-project", args=[campaign.slug])
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(labeler)
    assert client.get(url).status_code == 302


def test_project_page(client, admin_user, campaign):
    client.force_login(admin_user)
    response = client.get(reverse("dashboard-project", args=[campaign.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ["sim-labeler-1", "sim-labeler-6", "chart-throughput", "chart-pairs"]:
        assert name in html
    assert reverse("dashboard-plotly-js") in html
    # The spammer is below the project's agreement threshold and highlighted.
    rows = response.context["labelers"]
    assert rows[0]["username"] == "sim-labeler-6" and rows[0]["below"]
    assert 'class="below" data-username="sim-labeler-6"' in html


def test_sorting_and_filters(client, admin_user, campaign):
    client.force_login(admin_user)
    url = reverse("dashboard-project", args=[campaign.slug])
    rows = client.get(url, {"sort": "n_rankings", "dir": "desc"}).context["labelers"]
    counts = [row["n_rankings"] for row in rows]
    assert counts == sorted(counts, reverse=True)
    names = [r["username"] for r in client.get(url, {"sort": "username"}).context["labelers"]]
    assert names == sorted(names)
    response = client.get(url, {"category": "rewrite", "since": "not-a-date"})
    assert response.status_code == 200
    assert response.context["filters"] == {
        "since": None,
        "until": None,
        "category": "rewrite",
        "split": None,
    }


def test_empty_project_renders(client, admin_user, project):
    client.force_login(admin_user)
    response = client.get(reverse("dashboard-project", args=[project.slug]))
    assert response.status_code == 200
    assert b"No rankings in this selection" in response.content
    assert client.get(reverse("dashboard-disagreements", args=[project.slug])).status_code == 200


def test_disagreements(client, admin_user, campaign):
    client.force_login(admin_user)
    response = client.get(reverse("dashboard-disagreements", args=[campaign.slug]))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows and [r["agreement"] for r in rows] == sorted(r["agreement"] for r in rows)
    first = rows[0]
    assert len(first["labelers"]) >= 2
    assert all(len(line["cells"]) == len(first["labelers"]) for line in first["responses"])


def test_plotly_js_comes_from_the_package(client, admin_user):
    import plotly.offline

    response = client.get(reverse("dashboard-plotly-js"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert response.content == plotly.offline.get_plotlyjs().encode()


def test_refused_filters_are_dropped_and_said(client, admin_user, campaign):
    """The dashboard's filters are checked by the statistics' own rules (as the API's and
    the agreement command's are): a bad one is reported and left out, not ignored silently."""
    client.force_login(admin_user)
    url = reverse("dashboard-project", args=[campaign.slug])
    response = client.get(url, {"category": "poetry", "since": "2024-02-01", "until": "2024-01"})
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said[0] == "until: expected a date YYYY-MM-DD, got '2024-01'"
    assert said[1].startswith("category: must be one of generation, open_qa")
    assert response.context["filters"]["category"] is None
    response = client.get(url, {"since": "2024-02-01", "until": "2024-01-01"})
    assert [str(m) for m in response.context["messages"]] == [
        "until: must be later than since (until is exclusive)"
    ]
    assert response.context["filters"] == {
        "since": __import__("datetime").date(2024, 2, 1), "until": None,
        "category": None, "split": None,
    }  # fmt: skip
