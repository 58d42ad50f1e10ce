"""API throttles: anonymous callers and bad tokens per address, users at a generous rate."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api import throttles

from .api_world import fast_passwords  # noqa: F401

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"


def _client(address="10.0.0.1", token=None):
    client = APIClient(REMOTE_ADDR=address)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _spend(client, times):
    return [client.get(PROJECTS).status_code for _ in range(times)]


def test_anonymous_requests_past_the_rate_get_429_with_retry_after(settings):
    settings.PREFLAB_ANON_THROTTLE = "3/min"
    client = _client()
    assert _spend(client, 3) == [401, 401, 401]
    throttled = client.get(PROJECTS)
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"].lower()
    # another address has its own count
    assert _client("10.0.0.2").get(PROJECTS).status_code == 401


def test_bad_tokens_are_counted_per_address(settings, labeler):
    settings.PREFLAB_ANON_THROTTLE = "3/min"
    guesser = _client(token="0" * 40)
    assert _spend(guesser, 3) == [401, 401, 401]
    assert guesser.get(PROJECTS).status_code == 429
    # a malformed header counts too, and so does a plain anonymous request from there
    assert _client(token="two words").get(PROJECTS).status_code == 429
    assert _client().get(PROJECTS).status_code == 429
    # a good token from the same address is a user's request: not the anonymous count
    key = Token.objects.create(user=labeler).key
    assert _client(token=key).get(PROJECTS).status_code == 200


def test_users_have_their_own_generous_rate(settings, labeler, other_labeler):
    settings.PREFLAB_USER_THROTTLE = "4/hour"
    lena = _client(token=Token.objects.create(user=labeler).key)
    assert _spend(lena, 4) == [200] * 4
    throttled = lena.get(PROJECTS)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) <= 3600
    omar = _client(token=Token.objects.create(user=other_labeler).key)
    assert omar.get(PROJECTS).status_code == 200


def test_session_users_are_counted_as_users(settings, client, labeler):
    settings.PREFLAB_ANON_THROTTLE = "1/min"
    client.force_login(labeler)
    assert [client.get(PROJECTS).status_code for _ in range(3)] == [200] * 3


def test_an_empty_rate_turns_the_throttle_off(settings):
    settings.PREFLAB_ANON_THROTTLE = ""
    assert set(_spend(_client(), 70)) == {401}


def test_the_default_rates_leave_labeling_alone(settings):
    # bench/labeling.py: 50 labelers at ~200 rounds/s in all, two requests a round, is
    # ~29,000 requests an hour per labeler
    allowed, window = throttles.parse_rate(settings.PREFLAB_USER_THROTTLE)
    assert allowed * 3600 / window >= 50_000
    allowed, window = throttles.parse_rate(settings.PREFLAB_ANON_THROTTLE)
    assert allowed * 60 / window == 60


@pytest.mark.parametrize(
    "rate,parsed", [("60/min", (60, 60)), ("5/s", (5, 1)), ("100000/hour", (100000, 3600))]
)
def test_parse_rate(rate, parsed):
    assert throttles.parse_rate(rate) == parsed


def test_a_rate_without_a_known_period_is_refused():
    with pytest.raises(ValueError, match="<count>/"):
        throttles.parse_rate("10/fortnight")


def test_the_client_address_behind_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    assert throttles.client_ip(request) == "10.9.9.9"  # no proxy trusted: the header is ignored
    settings.PREFLAB_NUM_PROXIES = 1
    assert throttles.client_ip(request) == "1.2.3.4"  # what our proxy saw, not what was sent


def test_the_schema_documents_429_on_every_operation(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert operations and all("429" in op["responses"] for op in operations)
