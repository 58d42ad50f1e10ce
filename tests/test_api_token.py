"""manage.py api_token: create, print, rotate and revoke a user's token."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .api_world import fast_passwords  # noqa: F401

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_token_lifecycle(labeler):
    key = _run("lena")
    assert _run("lena") == key  # stable until rotated
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/projects/").status_code == 200
    rotated = _run("lena", "--rotate")
    assert rotated != key
    assert client.get("/api/v1/projects/").status_code == 401
    assert "revoked 1" in _run("lena", "--revoke")
    assert not Token.objects.exists()


def test_unknown_user():
    with pytest.raises(CommandError, match="^username:"):
        _run("nobody")
