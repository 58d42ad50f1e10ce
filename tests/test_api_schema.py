"""OpenAPI schema and docs: the schema validates and names every API route."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def _api_routes():
    """Every /api/v1/ route in the URLconf, as OpenAPI-style paths."""
    import re

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                yield route

    for route in walk(get_resolver().url_patterns, "/"):
        if not route.startswith("/api/v1/") or "format" in route:
            continue
        route = route.lstrip("^").rstrip("$").replace("^", "")
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        yield route.replace("{pk}", "{id}")


def test_schema_validates_and_covers_every_route():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["openapi"].startswith("3.")
    routes = set(_api_routes())
    assert len(routes) >= 20
    assert routes <= set(schema["paths"]), routes - set(schema["paths"])


def test_schema_and_docs_are_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200 and b"/api/v1/tasks/next/" in response.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from drf-spectacular-sidecar's static files: no CDN needed offline.
    assert b"drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content
    assert b"cdn." not in docs.content


def test_anonymous_health(client):
    assert client.get("/api/v1/health/").json()["status"] == "ok"
