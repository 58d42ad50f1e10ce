"""One mapping of the service layer's refusals to the API's error shape."""

from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.errors import ServiceError
from preflab.middleware import unavailable
from training.dispatch import RETRY_AFTER_S, BrokerUnavailable


def exception_handler(exc, context):
    """A ``ServiceError`` is a 400 ``{field: [message]}``; the job queue being down is a 503
    ``{"detail": ...}`` with Retry-After; everything else as DRF does it (a database that is
    down reaches ``preflab.middleware``: a 503 too)."""
    if isinstance(exc, BrokerUnavailable):
        return unavailable(context["request"], str(exc), RETRY_AFTER_S)
    if isinstance(exc, ServiceError):
        exc = ValidationError(exc.as_dict())
    return drf_exception_handler(exc, context)
