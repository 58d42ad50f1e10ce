"""Headless Debian chromium driven by Playwright against pytest-django's live server.

One browser per test session (starting chromium is the slow part); one context per test.
Without chromium the browser tests skip, except under CI where that is a failure.
"""

import os
import shutil
import threading
import time

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium")
    if not chromium:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (make chromium)")
        pytest.skip("Debian's chromium is not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ServerActivity:
    """The requests the live server is handling, from Django's request signals.

    Closing a context fires the ranking page's pagehide beacon (the draft save), which the
    live server may still be handling when the test database is flushed: the flush's
    TRUNCATE and the request's transaction then deadlock. Teardown waits for quiet.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.last_change = time.monotonic()

    def started(self, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.last_change = time.monotonic()

    def finished(self, **kwargs):
        with self.lock:
            self.in_flight -= 1
            self.last_change = time.monotonic()

    def wait_quiet(self, settle=0.5, timeout=15.0):
        """Until nothing is in flight and nothing has started for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                quiet = self.in_flight == 0 and time.monotonic() - self.last_change >= settle
            if quiet:
                return
            time.sleep(0.05)
        raise AssertionError(f"live server still busy after {timeout} s: {self.in_flight} requests")


@pytest.fixture(scope="session")
def server_activity():
    from django.core.signals import request_finished, request_started

    activity = ServerActivity()
    request_started.connect(activity.started)
    request_finished.connect(activity.finished)
    yield activity
    request_started.disconnect(activity.started)
    request_finished.disconnect(activity.finished)


@pytest.fixture
def new_page(browser, live_server, server_activity):
    contexts = []

    def make(viewport=None):
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    errors = []
    yield make
    for context in contexts:
        context.close()
    server_activity.wait_quiet()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def login(live_server):
    """login(page, user): a session cookie for ``user`` (the login form has its own test)."""
    from django.conf import settings
    from django.test import Client

    def do(page, user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )

    return do
