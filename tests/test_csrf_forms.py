"""CSRF on every form: a POST without the token is refused before any view runs.

Every named URL of the UI and of Django's admin is posted to, as a superuser whose session
cookie is all it sends (what a forged cross-site form would send). The API is exempt for
tokens by design (a token is not sent by a browser on its own), but a session-authenticated
API call is checked by DRF's SessionAuthentication.
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import re

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from rest_framework.authtoken.models import Token

from .api_world import fast_passwords  # noqa: F401
from .test_role_matrix_ui import url_patterns

pytestmark = pytest.mark.django_db


def _params(route: str) -> set[str]:
    """The parameters of a route joined from path() and re_path() pieces."""
    return set(re.findall(r"<(?:\w+:)?(\w+)>", route) + re.findall(r"\(\?P<(\w+)>", route))


def _urls(admin_user, project):
    """Every UI and admin URL, parameters filled with sample values (objects need not exist:
    the CSRF check comes before the view)."""
    samples = {"slug": project.slug, "app_label": "auth", "object_id": str(admin_user.pk),
               "content_type_id": "1", "url": "x"}  # fmt: skip
    urls, unbuilt = {}, []
    for name, route, _ in url_patterns():
        if route.startswith(("api/", "^api/")):
            continue
        kwargs = {p: samples.get(p, "1") for p in _params(route)}
        try:
            urls[name] = reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            unbuilt.append(name)
    return urls, unbuilt


def test_every_form_refuses_a_post_without_the_token(admin_user, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    urls, unbuilt = _urls(admin_user, project)
    assert unbuilt == [] and len([n for n in urls if n.startswith("admin:")]) > 20
    accepted = {}
    for name, url in urls.items():
        response = client.post(url, {"name": "forged"})
        if response.status_code != 403 or b"CSRF" not in response.content:
            accepted[name] = (url, response.status_code)
    assert accepted == {}


def test_the_same_post_with_the_token_gets_through(admin_user, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(reverse("dashboard-settings", kwargs={"slug": project.slug}))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)[1].decode()
    response = client.post(
        reverse("logout"), {"csrfmiddlewaretoken": token}, HTTP_REFERER="http://testserver/"
    )
    assert response.status_code == 302 and "_auth_user_id" not in client.session


def test_the_api_checks_csrf_for_sessions_not_for_tokens(admin_user, project):
    body = {"slug": "forged", "name": "Forged"}
    session = Client(enforce_csrf_checks=True)
    session.force_login(admin_user)
    refused = session.post("/api/v1/projects/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    key = Token.objects.create(user=admin_user).key
    tokened = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {key}")
    created = tokened.post("/api/v1/projects/", body, content_type="application/json")
    assert created.status_code == 201, created.content
