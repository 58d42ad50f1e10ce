"""A request body over the limit is a 413 naming ``body``, before anything reads it.

Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when ``request.body`` or a form is read;
DRF's JSON parser reads the stream itself, so an API body of any size would be parsed whole.
This middleware refuses by the declared length instead (a WSGI body is never longer than
its Content-Length): the API gets ``{"body": [...]}``, a page a short HTML answer.
"""

from django.http import HttpResponse, JsonResponse

from labeling.limits import max_body_bytes


def too_large(request, limit: int) -> HttpResponse:
    message = f"the request body is larger than {limit} bytes"
    if request.path.startswith("/api/"):
        return JsonResponse({"body": [message]}, status=413)
    return HttpResponse(
        "<!doctype html><title>Request too large</title>"
        f"<h1>Request too large</h1><p>The form sent more than {limit} bytes; "
        "nothing was saved. Shorten the text and send it again.</p>",
        status=413,
    )


class BodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = max_body_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body it cannot measure
        if limit is not None and length > limit:
            return too_large(request, limit)
        return self.get_response(request)
