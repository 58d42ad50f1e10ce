"""One mapping of the service layer's refusals to the API's error shape."""

from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.errors import ServiceError


def exception_handler(exc, context):
    """A ``ServiceError`` is a 400 ``{field: [message]}``; everything else as DRF does it."""
    if isinstance(exc, ServiceError):
        exc = ValidationError(exc.as_dict())
    return drf_exception_handler(exc, context)
