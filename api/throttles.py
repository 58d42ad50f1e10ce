"""The API's request rates: per client address for anonymous callers and bad tokens, per user
for the rest (settings ``PREFLAB_ANON_THROTTLE`` and ``PREFLAB_USER_THROTTLE``).

Fixed windows counted with ``cache.add`` + ``cache.incr`` rather than DRF's sliding-window
throttles: those keep every request's timestamp in one cached list, which at the per-user rate
(tens of thousands an hour) means reading and writing that whole list on every labeling
request. A counter is one small key per client and window, and an atomic increment on Redis.

The anonymous count lives in the shared cache (Redis, or files on one machine): an attacker
spreading bad tokens over the web's processes is counted once. The per-user count is kept in
each web process's memory (the "local" cache): it guards against a runaway client, not an
attacker (a user is authenticated), so a limit per process is enough, and it keeps the labeling
path free of a file or network round trip per request (2 ms a request with the file cache,
measured). With N processes a user may make up to N times the rate.

The rates are read from settings on every request, so tests change them with ``settings``.
"""

import time

from django.conf import settings
from django.core.cache import cache, caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "m": 60,
           "h": 3600, "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"60/min"`` → (60, 60): requests allowed, window in seconds; None when off."""
    if not rate or not rate.strip():
        return None
    count, _, period = rate.strip().partition("/")
    if period not in PERIODS:
        raise ValueError(f"a rate is <count>/<{'|'.join(PERIODS)}>, not {rate!r}")
    return int(count), PERIODS[period]


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or with ``PREFLAB_NUM_PROXIES`` proxies in front,
    the address the outermost of them saw (what a client writes into X-Forwarded-For before
    that is not trusted). Also the address django-axes locks logins by."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.PREFLAB_NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        return addresses[-min(proxies, len(addresses))] if addresses else remote
    return remote


def spend(scope: str, ident: str, rate: str, store=None) -> float | None:
    """Count one request of ``ident`` against ``rate`` in ``store`` (default: the shared
    cache); the seconds to wait when over it."""
    store = cache if store is None else store
    parsed = parse_rate(rate)
    if parsed is None:
        return None
    allowed, window = parsed
    now = time.time()
    start = int(now // window) * window
    key = f"throttle:{scope}:{ident}:{start}"
    store.add(key, 0, timeout=window + 1)
    try:
        count = store.incr(key)
    except ValueError:  # expired between add and incr: this request opens the window
        store.set(key, 1, timeout=window + 1)
        count = 1
    if count <= allowed:
        return None
    return max(start + window - now, 1.0)


def count_anonymous(request) -> None:
    """Count an anonymous request (or one with a token that is not valid) against its
    address's rate; 429 once that is spent. Once per request, wherever it is first counted.

    DRF authenticates, then checks permissions, then throttles: a bad token (401 from the
    authenticator) or an anonymous call to a view that needs a user (401 from the permission)
    would never reach ``AnonThrottle``. So the authenticators count them (api/authentication.py)
    and ``AnonThrottle`` counts what is left: anonymous calls to views open to anyone.
    """
    django_request = getattr(request, "_request", request)
    if getattr(django_request, "preflab_anon_counted", False):
        return
    django_request.preflab_anon_counted = True
    wait = spend("anon", client_ip(request), settings.PREFLAB_ANON_THROTTLE)
    if wait is not None:
        raise Throttled(wait=wait)


class AnonThrottle(BaseThrottle):
    """Anonymous requests to views open to anyone (``count_anonymous`` says why)."""

    def allow_request(self, request, view):
        if not request.user.is_authenticated:
            count_anonymous(request)  # raises Throttled itself, with the wait
        return True


class UserThrottle(BaseThrottle):
    """Authenticated requests, per user: generous, against a runaway client."""

    def allow_request(self, request, view):
        self.wait_s = None
        if request.user.is_authenticated:
            self.wait_s = spend(
                "user", str(request.user.pk), settings.PREFLAB_USER_THROTTLE, caches["local"]
            )
        return self.wait_s is None

    def wait(self):
        return self.wait_s
