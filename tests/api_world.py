"""Fixtures for API tests: an API client per role and a small project with work in it.

Role matrix columns: anonymous, labeler (lena, holds the task), other labeler (omar),
reviewer (rita), admin (ada, superuser).
"""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROLES = ["anonymous", "labeler", "other", "reviewer", "admin"]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """PBKDF2 makes each fixture user cost a second on a busy CPU; tests need no strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clients(labeler, other_labeler, reviewer, admin_user):
    users = {"labeler": labeler, "other": other_labeler, "reviewer": reviewer, "admin": admin_user}
    result = {"anonymous": APIClient()}
    for role, user in users.items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        client.user = user
        result[role] = client
    return result


@pytest.fixture
def world(project, make_task, labeler, other_labeler, reviewer):
    """A task assigned to and ranked by lena, a second open task, a demonstration of lena's."""
    from labeling.assignment import engine as assignment
    from labeling.assignment.rankings import ItemInput
    from labeling.models import Demonstration

    project.overlap = 1
    project.gold_rate = 0
    project.save()
    done = make_task(k=4)
    held = assignment.next_assignment(project, labeler)
    assert held.task_id == done.pk
    ranking = assignment.submit_ranking(
        held, labeler, [ItemInput(rank=r, likert=4) for r in (1, 2, 3, 4)]
    )
    open_task = make_task(k=4)
    demo = Demonstration.objects.create(prompt=done.prompt, author=labeler, text="An answer.")
    return {"task": done, "ranking": ranking, "open_task": open_task, "demo": demo}


def statuses(clients, method, url, data=None, **kwargs):
    """{role: status code} of the same request by every role."""
    out = {}
    for role in ROLES:
        call = getattr(clients[role], method)
        body = data(role) if callable(data) else data
        response = call(url, body, format="json", **kwargs) if body is not None else call(url)
        out[role] = response.status_code
    return out


def expect(codes):
    return dict(zip(ROLES, codes, strict=True))
