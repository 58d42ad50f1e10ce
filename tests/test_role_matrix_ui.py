"""Every page of the UI, as every role: the status each gets is declared in ``EXPECTED``.

The URLconf is walked, not listed: a page added without an entry in ``EXPECTED`` fails
``test_every_ui_url_declares_its_roles``, so each new page says who may see it. The API has
its own matrix (tests/test_api_*.py) and Django's admin its own permissions; both are left out.

A GET of each URL, with the path's parameters filled in from real objects of one world.
Anonymous visitors are sent to a login page (``/accounts/login/``, or the admin's for the
staff pages); 405 means the role got past the checks to a view that only takes POST.
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .api_world import fast_passwords  # noqa: F401

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "labeler", "reviewer", "project_admin", "superuser")
LOGIN = "login"  # a 302 to a login page

# name → statuses for (anonymous, labeler, reviewer, project admin, superuser).
# The reviewer is staff (the quality dashboard's users); the project admin is not staff.
EXPECTED = {
    "login": (200, 200, 200, 200, 200),
    "logout": (405, 405, 405, 405, 405),  # logging out is a POST
    "home": (LOGIN, 200, 200, 200, 200),
    # the labeler to the task she holds; the others find the queue empty
    "rank-next": (LOGIN, 302, 200, 200, 200),
    "rank-task": (LOGIN, 200, 404, 404, 404),  # the labeler's own assignment only
    "rank-draft": (LOGIN, 405, 405, 405, 405),
    "rank-skip": (LOGIN, 405, 405, 405, 405),
    "demonstrate": (LOGIN, 200, 200, 200, 200),
    "review": (LOGIN, 403, 200, 200, 200),
    "review-decide": (LOGIN, 405, 405, 405, 405),
    "dashboard": (LOGIN, LOGIN, 200, LOGIN, 200),  # staff pages: non-staff to the admin login
    "dashboard-plotly-js": (200, 200, 200, 200, 200),  # a static script
    "dashboard-project": (LOGIN, LOGIN, 200, LOGIN, 200),
    "dashboard-disagreements": (LOGIN, LOGIN, 200, LOGIN, 200),
    "dashboard-screening": (LOGIN, LOGIN, 200, LOGIN, 200),
    "dashboard-screening-decide": (LOGIN, LOGIN, 405, LOGIN, 405),
    "dashboard-settings": (LOGIN, 403, 403, 200, 200),
    "dashboard-training": (LOGIN, LOGIN, 200, LOGIN, 200),
    "dashboard-schedule-create": (LOGIN, 403, 403, 405, 405),
    "dashboard-schedule-update": (LOGIN, 403, 403, 405, 405),
    "dashboard-schedule-delete": (LOGIN, 403, 403, 405, 405),
    "dashboard-evaluations": (LOGIN, LOGIN, 200, LOGIN, 200),
    "dashboard-evaluations-create": (LOGIN, LOGIN, 405, LOGIN, 405),
    "dashboard-evaluations-score": (LOGIN, LOGIN, 405, LOGIN, 405),
    "dashboard-jobs": (LOGIN, 403, 403, 200, 200),
    "dashboard-jobs-live": (LOGIN, 403, 403, 200, 200),
    "dashboard-job-new": (LOGIN, 403, 403, 200, 200),
    "dashboard-job": (LOGIN, 403, 403, 200, 200),
    "dashboard-job-live": (LOGIN, 403, 403, 200, 200),
    "dashboard-job-cancel": (405, 405, 405, 405, 405),  # require_POST comes first there
    "dashboard-job-retry": (405, 405, 405, 405, 405),
    "dashboard-models": (LOGIN, 403, 403, 200, 200),
    "dashboard-checkpoint-download": (LOGIN, 403, 403, 200, 200),
}


def url_patterns(resolver=None, prefix="", namespace=""):
    """(name, route, pattern) of every named URL, routes joined from the includes."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield namespace + entry.name, route, entry


def is_ui(name: str, route: str) -> bool:
    return not route.startswith(("api/", "admin/", "^admin/")) and ":" not in name


def ui_urls(values: dict) -> dict:
    """{name: url} of every UI page, each path parameter taken from ``values``."""
    urls = {}
    for name, route, _ in url_patterns():
        if is_ui(name, route):
            params = re.findall(r"<(?:\w+:)?(\w+)>", route)
            urls[name] = reverse(name, kwargs={p: values[p] for p in params})
    return urls


@pytest.fixture
def world(project, make_task, labeler, reviewer, project_admin, admin_user, tmp_path, settings):
    from labeling.assignment import engine
    from labeling.models import Demonstration
    from pipelines.models import RetrainingSchedule
    from training.models import Checkpoint, TrainingJob

    settings.PREFLAB_ARTIFACTS_DIR = tmp_path
    task = make_task(k=4)
    assignment = engine.next_assignment(project, labeler)
    demo = Demonstration.objects.create(prompt=task.prompt, author=labeler, text="An answer.")
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "config.json").write_text("{}")
    checkpoint = Checkpoint.objects.create(name="sft", kind="sft", path=str(tmp_path / "sft"))
    job = TrainingJob.objects.create(project=project, kind="sft", output_checkpoint=checkpoint)
    schedule = RetrainingSchedule.objects.create(project=project, kind="nightly_snapshot")
    from evaluations.models import Campaign

    campaign = Campaign.objects.create(project=project, name="round 1")
    values = {
        "slug": project.slug,
        "assignment_id": assignment.id,
        "demonstration_id": demo.pk,
        "user_id": labeler.pk,
        "job_id": job.pk,
        "checkpoint_id": checkpoint.pk,
        "campaign_id": campaign.pk,
        "schedule_id": schedule.pk,
    }
    users = {"labeler": labeler, "reviewer": reviewer, "project_admin": project_admin,
             "superuser": admin_user}  # fmt: skip
    return values, users


def test_every_ui_url_declares_its_roles(world):
    values, _ = world
    found = set(ui_urls(values))
    assert found - set(EXPECTED) == set(), "pages without roles in EXPECTED"
    assert set(EXPECTED) - found == set(), "EXPECTED names pages that are gone"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says(world, role):
    values, users = world
    client = Client()
    if role != "anonymous":
        client.force_login(users[role])
    wrong = {}
    for name, url in ui_urls(values).items():
        if name not in EXPECTED:
            continue  # the test above fails on it
        response = client.get(url)
        expected = EXPECTED[name][ROLES.index(role)]
        got = response.status_code
        if got == 302 and response.url.startswith((reverse("login"), reverse("admin:login"))):
            got = LOGIN
        if got != expected:
            wrong[name] = (url, got, expected)
    assert wrong == {}, f"{role}: name → (url, got, expected)"
