"""A backing service that is down is a 503 with Retry-After, not a 500.

PostgreSQL restarting (``OperationalError`` / ``InterfaceError`` out of a view), or the job
queue unreachable when a form would start a job (``training.dispatch.BrokerUnavailable``):
the request failed through no fault of its own and may simply be sent again. The API gets
``{"detail": ...}`` JSON, pages a short HTML page. An outage is logged once per process, when
it starts, and again when a request goes through; not as a traceback per request (the job
queue's refusals, one per form or API call, are a warning line each).

Once the database is back the next request reconnects: Django closes a connection that had
an error at the end of the request, and ``CONN_HEALTH_CHECKS`` checks a persistent one before
reusing it (preflab/settings.py).
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 10
DATABASE_MESSAGE = "the database is unreachable; nothing was saved, try again shortly"


def unavailable(request, message: str, retry_after: int) -> HttpResponse:
    """A 503 in the caller's shape: JSON under /api/, a short page otherwise."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Service unavailable</title>"
            f"<h1>Service unavailable</h1><p>{escape(message.capitalize())}.</p>",
            status=503,
        )
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.failing: set[str] = set()

    def __call__(self, request):
        response = self.get_response(request)
        if self.failing and response.status_code < 500:
            log.warning("back after an outage: %s", ", ".join(sorted(self.failing)))
            self.failing.clear()
        return response

    def process_exception(self, request, exception):
        from training.dispatch import RETRY_AFTER_S, BrokerUnavailable

        if isinstance(exception, OperationalError | InterfaceError):
            self._log_once("database", exception)
            return unavailable(request, DATABASE_MESSAGE, DATABASE_RETRY_AFTER_S)
        if isinstance(exception, BrokerUnavailable):
            log.warning("job queue unavailable, answering 503: %s", exception.reason)
            return unavailable(request, str(exception), RETRY_AFTER_S)
        return None

    def _log_once(self, service: str, exception) -> None:
        # a restart fails every request for seconds: one line for the outage, not one each
        if service not in self.failing:
            self.failing.add(service)
            log.error("%s unavailable, answering 503: %s", service, exception)
