"""Candidate responses: a prompt has each text once (the text's hash keys it)."""

from labeling.errors import ServiceError
from labeling.intake import dedup
from labeling.models import Response


class ResponseError(ServiceError):
    pass


def add_response(
    prompt,
    text: str,
    *,
    origin: str = Response.Origin.MODEL,
    model_name: str = "",
    checkpoint=None,
    metadata: dict | None = None,
) -> Response:
    """A new response to ``prompt``; a text the prompt already has is refused."""
    text_hash = dedup.text_hash(text)
    if Response.objects.filter(prompt=prompt, text_hash=text_hash).exists():
        raise ResponseError("text", "this prompt already has this response")
    return Response.objects.create(
        prompt=prompt,
        text=text,
        text_hash=text_hash,
        origin=origin,
        model_name=model_name,
        checkpoint=checkpoint,
        metadata=metadata or {},
    )


def get_or_create_response(prompt, text: str, *, model_name="", origin=Response.Origin.MODEL):
    """The prompt's response with this text, made when new: imports and generation meet the
    same text again as the same response."""
    response, _ = Response.objects.get_or_create(
        prompt=prompt,
        text_hash=dedup.text_hash(text),
        defaults={"text": text, "model_name": model_name, "origin": origin},
    )
    return response
