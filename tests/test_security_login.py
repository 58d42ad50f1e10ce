"""Login brute force: django-axes locks a username at one address out after too many failures."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from .api_world import fast_passwords  # noqa: F401

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def _login(client, username, password, url=None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def _client(address="10.0.0.1"):
    return Client(REMOTE_ADDR=address)


def test_axes_checks_before_any_backend_and_locks_username_with_address():
    assert django_settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert "axes.backends.AxesStandaloneBackend" == django_settings.AUTHENTICATION_BACKENDS[0]


def test_failures_up_to_the_limit_lock_the_username_out(labeler):
    client = _client()
    for _ in range(LIMIT - 1):
        response = _login(client, "lena", "wrong")
        assert response.status_code == 200 and b"match" in response.content
    locked = _login(client, "lena", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert b"try again in 15 minutes" in locked.content
    # the right password does not get in while locked
    right = _login(client, "lena", "pw-lena")
    assert right.status_code == 429 and "_auth_user_id" not in client.session


def test_the_lock_is_per_username_and_address(labeler, other_labeler):
    attacker = _client("10.0.0.1")
    for _ in range(LIMIT):
        _login(attacker, "lena", "wrong")
    assert _login(attacker, "lena", "pw-lena").status_code == 429
    # lena from her own address, and omar from the attacker's, still log in
    assert _login(_client("10.0.0.2"), "lena", "pw-lena").status_code == 302
    assert _login(attacker, "omar", "pw-omar").status_code == 302


def test_the_lock_ends_after_the_cool_off(labeler):
    client = _client()
    for _ in range(LIMIT):
        _login(client, "lena", "wrong")
    assert _login(client, "lena", "pw-lena").status_code == 429
    cool_off = django_settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.update(attempt_time=timezone.now() - cool_off - timedelta(seconds=1))
    response = _login(client, "lena", "pw-lena")
    assert response.status_code == 302 and response.url == reverse("home")


def test_a_success_starts_the_count_again(labeler):
    client = _client()
    for _ in range(LIMIT - 1):
        _login(client, "lena", "wrong")
    assert _login(client, "lena", "pw-lena").status_code == 302
    client.post(reverse("logout"))
    for _ in range(LIMIT - 1):
        assert _login(client, "lena", "wrong").status_code == 200
    assert _login(client, "lena", "pw-lena").status_code == 302


def test_the_admin_login_is_locked_the_same_way(admin_user):
    client = _client()
    url = reverse("admin:login")
    for _ in range(LIMIT):
        _login(client, "ada", "wrong", url=url)
    locked = _login(client, "ada", "pw-ada", url=url)
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content


def test_the_cool_off_minutes_are_a_setting(settings, labeler):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    client = _client()
    for _ in range(LIMIT):
        locked = _login(client, "lena", "wrong")
    assert b"try again in 1 minute." in locked.content


def test_the_username_on_the_lockout_page_is_escaped(db):
    client = _client()
    name = "<script>alert(1)</script>"
    for _ in range(LIMIT):
        locked = _login(client, name, "wrong")
    assert locked.status_code == 429
    assert b"<script>alert(1)" not in locked.content and b"&lt;script&gt;" in locked.content
