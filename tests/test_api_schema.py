"""OpenAPI schema and docs: the schema validates and names every API route."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from .api_world import clients, fast_passwords, world  # noqa: F401

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


def _generated_schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_documents_its_errors():
    """The shared error responses (api/schema.py): the contract test holds the server to them."""
    schema = _generated_schema()
    assert schema["components"]["schemas"]["ErrorDetail"]["required"] == ["detail"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"429", "503"} <= codes, (method, path)
            if path != "/api/v1/health/":
                assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)
    cancel = schema["paths"]["/api/v1/jobs/{id}/cancel/"]["post"]["responses"]["409"]
    assert cancel["content"]["application/json"]["schema"]["$ref"].endswith("ValidationErrors")


def test_schema_types_what_the_server_checks():
    schema = _generated_schema()
    params = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/rankings/"]["get"]["parameters"]
    }
    assert params["page_size"] == {"type": "integer", "minimum": 1}
    assert params["task"]["type"] == "integer" and params["task"]["minimum"] == 1
    assert params["is_current"] == {"type": "boolean"}
    demonstration = schema["components"]["schemas"]["Demonstration"]["properties"]
    assert demonstration["reviewed_by"]["nullable"] is True
    bulk = schema["paths"]["/api/v1/prompts/"]["post"]
    assert "parameters" not in bulk  # a create is not a filtered, paginated list
    assert len(bulk["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 2


@pytest.mark.parametrize(
    "query, status",
    [
        ("page_size=false", 400),
        ("page_size=0", 400),
        ("page_size=2&page_size=3", 400),
        ("page_size=5000", 200),  # capped at 1000, as documented
        ("is_current=maybe", 400),
        ("is_current=", 400),
        ("task=0", 400),
        ("task=999999", 200),  # an unknown id matches nothing
        ("labeler=", 200),  # an empty string is a string
    ],
)
def test_list_parameters_are_typed(clients, world, query, status):
    response = clients["reviewer"].get(f"/api/v1/rankings/?{query}")
    assert response.status_code == status, response.content
    if status == 400:
        assert query.partition("=")[0] in response.json()


def test_a_slug_that_cannot_exist_is_a_json_404(clients, world):
    for url in ["/api/v1/projects/%C2%84/", "/api/v1/projects/a%00b/", "/api/v1/tasks/1.5/"]:
        response = clients["admin"].get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
