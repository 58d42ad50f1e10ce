"""Candidate responses: a prompt has each text once (the text's hash keys it)."""

from labeling.checks import has_nul
from labeling.errors import ServiceError
from labeling.intake import dedup
from labeling.limits import MAX_RESPONSE_CHARS, too_long
from labeling.models import Response

MODEL_NAME_MAX_CHARS = Response._meta.get_field("model_name").max_length
# Once: the enum builds ``values`` anew on every access, a cost bulk imports pay per row.
ORIGINS = tuple(Response.Origin.values)


class ResponseError(ServiceError):
    """A refused response; ``field`` names what to fix."""


class DuplicateResponse(ResponseError):
    """The prompt has a response with this text already."""


def check_response(text, *, origin, model_name, metadata=None) -> None:
    """The rules on a response's own fields, whoever adds it (the API, imports, generation)."""
    if not isinstance(text, str) or not text:
        raise ResponseError("text", "write the response")
    if has_nul(text):
        raise ResponseError("text", "must not contain NUL characters")
    if refusal := too_long(text, MAX_RESPONSE_CHARS):
        raise ResponseError("text", refusal)
    if origin not in ORIGINS:
        raise ResponseError("origin", f"must be one of {', '.join(ORIGINS)}")
    check_details(model_name=model_name, metadata=metadata)


def check_details(**fields) -> None:
    """The rules on what may change after a response is made: its model name and metadata
    (its text is what labelers ranked)."""
    if "model_name" in fields:
        model_name = fields["model_name"]
        if not isinstance(model_name, str) or has_nul(model_name):
            raise ResponseError("model_name", "must be text without NUL characters")
        if len(model_name) > MODEL_NAME_MAX_CHARS:
            raise ResponseError("model_name", f"at most {MODEL_NAME_MAX_CHARS} characters")
    metadata = fields.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or has_nul(metadata)):
        raise ResponseError("metadata", "must be an object without NUL characters")


def update_response(response: Response, **changes) -> Response:
    """Change a response's model name or metadata (the admin's edit)."""
    unknown = sorted(set(changes) - {"model_name", "metadata"})
    if unknown:
        raise ResponseError(unknown[0], "cannot change once the response is made")
    check_details(**changes)
    for name, value in changes.items():
        setattr(response, name, value if name != "metadata" else value or {})
    if changes:
        response.save(update_fields=list(changes))
    return response


def add_response(
    prompt,
    text: str,
    *,
    origin: str = Response.Origin.MODEL,
    model_name: str = "",
    checkpoint_id: int | None = None,
    metadata: dict | None = None,
) -> Response:
    """A new response to ``prompt``; a text the prompt already has is refused.

    ``checkpoint_id`` names the training checkpoint that generated it; the caller vouches
    for it (the domain does not look into training)."""
    check_response(text, origin=origin, model_name=model_name, metadata=metadata)
    text_hash = dedup.text_hash(text)
    if Response.objects.filter(prompt=prompt, text_hash=text_hash).exists():
        raise DuplicateResponse("text", "this prompt already has this response")
    return Response.objects.create(
        prompt=prompt,
        text=text,
        text_hash=text_hash,
        origin=origin,
        model_name=model_name,
        checkpoint_id=checkpoint_id,
        metadata=metadata or {},
    )


def get_or_create_response(
    prompt, text: str, *, model_name="", origin=Response.Origin.MODEL, metadata=None
):
    """The prompt's response with this text, made when new: imports and generation meet the
    same text again as the same response.

    ``metadata`` is stored on a new response; an existing one gets the keys it lacks (a text
    generated again keeps what its first generation recorded)."""
    check_response(text, origin=origin, model_name=model_name, metadata=metadata)
    response, created = Response.objects.get_or_create(
        prompt=prompt,
        text_hash=dedup.text_hash(text),
        defaults={
            "text": text,
            "model_name": model_name,
            "origin": origin,
            "metadata": metadata or {},
        },
    )
    missing = {
        key: value for key, value in (metadata or {}).items() if key not in response.metadata
    }
    if not created and missing:
        response.metadata = {**response.metadata, **missing}
        response.save(update_fields=["metadata"])
    return response
