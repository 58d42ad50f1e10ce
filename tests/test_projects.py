"""The projects service: what the API, admin, imports and demo commands create projects with.

Each rule's refusal is checked through the API (test_api_projects.py) and the admin
(test_admin.py); here what only the service's own callers see."""

import pytest

from labeling import projects
from labeling.models import Project

pytestmark = pytest.mark.django_db


def test_get_or_create_finds_or_makes_the_project(project):
    assert projects.get_or_create_project("campaign", overlap=3) == (project, False)
    made, created = projects.get_or_create_project("fresh", overlap=3)
    assert created and (made.name, made.overlap) == ("fresh", 3)
    with pytest.raises(projects.ProjectError) as refused:
        projects.get_or_create_project("not a slug")
    assert refused.value.field == "slug" and not Project.objects.filter(name="not a slug")


def test_a_slug_taken_meanwhile_is_the_existing_project(project, monkeypatch):
    """Two imports naming the same new project at once: the second finds the first's."""
    real, calls = Project.objects.filter, []

    def first_look_misses(**lookup):
        calls.append(lookup)
        return Project.objects.none() if len(calls) == 1 else real(**lookup)

    monkeypatch.setattr(Project.objects, "filter", first_look_misses)
    assert projects.get_or_create_project("campaign") == (project, False)
    assert len(calls) == 3  # looked, refused as taken by create_project, looked again


def test_only_settings_are_taken(project):
    with pytest.raises(TypeError, match="not project settings: created_at"):
        projects.update_project(project, created_at=None)
    assert projects.update_project(project) is project


def test_the_services_rules_match_the_database_constraints(project):
    """Every bound the model's check constraints hold is refused by the service first."""
    for name, value in (
        ("k_min", 1), ("overlap", 0), ("gold_rate", 1.5), ("likert_max", 8),
        ("lease_minutes", 0), ("screening_threshold", -0.1), ("agreement_threshold", 2),
    ):  # fmt: skip
        with pytest.raises(projects.ProjectError) as refused:
            projects.update_project(project, **{name: value})
        assert refused.value.field == name
