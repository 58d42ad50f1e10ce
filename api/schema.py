"""The OpenAPI schema's error responses, added in one place (a drf-spectacular hook).

Every view answers errors in the same few shapes (api/exceptions.py, api/views.py): a 400,
409 or 413 maps fields to messages (a bulk create: a list, one entry per item), and
401/403/404/429/503 are ``{"detail": ...}``. Declaring them view by view would be
forgotten on the next view; the contract test (tests/test_api_contract.py) checks that
the schema documents every status code the server answers.
"""

DETAIL = "ErrorDetail"
FIELDS = "ValidationErrors"

SCHEMAS = {
    DETAIL: {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    FIELDS: {
        "description": "Each offending field with its messages, e.g. "
        '{"ranks": ["expected 4 ranks, got 3"]}; nested for nested fields. A bulk create '
        "answers a list of such objects, one per item ({} for an item without error).",
        "anyOf": [
            {"type": "object", "additionalProperties": {}},
            # one entry per item: its errors, or the item's own message list
            {"type": "array", "items": {}},
        ],
    },
}

DESCRIPTIONS = {
    "400": "The request is malformed or a rule refuses it; the body names the fields.",
    "401": "No credentials, or a token that is not valid.",
    "403": "The caller's role does not allow this.",
    "404": "Not found, or not visible to the caller (also: a cursor that is not valid).",
    "409": "The object's state does not allow this transition now.",
    "413": "The request body is larger than the server takes (docs/limits.md).",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "503": "The database or the job queue is down; retry after Retry-After's seconds.",
}


def one_or_many(serializer_class, most: int) -> dict:
    """The schema of a bulk create's body and answer: one object, or a list of them."""
    name = serializer_class.__name__.removesuffix("Serializer")
    one = {"$ref": f"#/components/schemas/{name}"}
    return {"oneOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": most}]}


def error_response(code: str) -> dict:
    schema = FIELDS if code in ("400", "409", "413") else DETAIL
    return {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def error_codes(method: str, path: str, operation: dict) -> list[str]:
    """The error statuses an operation can answer, from what it takes."""
    parameters = operation.get("parameters", [])
    query = [p for p in parameters if p.get("in") == "query"]
    # throttling and an outage apply before anything else, authenticated or not
    codes = ["429", "503"]
    if operation.get("security") != [{}]:
        codes += ["401", "403"]
    if method != "get" or query or "requestBody" in operation:
        codes.append("400")
    if "requestBody" in operation:
        codes.append("413")
    if "{" in path or any(p["name"] == "cursor" for p in query):
        codes.append("404")
    return codes


def document_errors(result, generator, request, public):
    """Add the shared error responses to every operation (those a view declares win)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in error_codes(method, path, operation):
                responses.setdefault(code, error_response(code))
            for code, response in responses.items():
                # a view that declares an error status (409) without a body gets the shared one
                if code in DESCRIPTIONS and "content" not in response:
                    responses[code] = error_response(code) | {
                        "description": response.get("description") or DESCRIPTIONS[code]
                    }
    return result
