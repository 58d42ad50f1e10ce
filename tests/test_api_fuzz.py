"""Property-based fuzzing of the whole API: no request, however malformed, gets a 5xx.

Operations come from the OpenAPI schema itself, so a new endpoint is fuzzed without
touching this file. Bodies and query strings are drawn both from the schema (the right
names and roughly the right types, which gets past the first validation layer) and as
arbitrary JSON; path ids mix real ids with absurd ones (negative, beyond bigint, text).
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .api_world import clients, fast_passwords, world  # noqa: F401

pytestmark = pytest.mark.django_db
STATS = __import__("collections").Counter()

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
WEIRD_TEXT = st.sampled_from(
    ["", " ", "0", "-1", "1e9", "null", "true", "../", "%00", "é", "9" * 30]
)


def _schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def from_schema(schema, node, depth=0, name=None, hints=None):
    """A rough strategy for values of an OpenAPI schema node, salted with junk.

    ``hints`` maps field names to plausible values (real ids, the project's slug), so
    that many bodies get past validation and exercise the code behind it.
    """
    hints = hints or {}
    if name in hints:
        return hints[name] | _from_schema(schema, node, depth, hints)
    return _from_schema(schema, node, depth, hints)


def _from_schema(schema, node, depth, hints):
    node = _resolve(schema, node) or {}
    junk = JSON if depth else st.just(None)
    if "enum" in node:
        return st.sampled_from(node["enum"]) | WEIRD_TEXT
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            return st.one_of([from_schema(schema, sub, depth, hints=hints) for sub in node[key]])
    kind = node.get("type")
    if kind == "integer":
        return st.integers(min_value=-3, max_value=60) | st.integers(
            min_value=-(2**70), max_value=2**70
        )
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
    if kind == "boolean":
        return st.booleans() | WEIRD_TEXT
    if kind == "string":
        return st.text(max_size=20) | WEIRD_TEXT | st.just("campaign")
    if kind == "array" and depth < 3:
        items = from_schema(schema, node.get("items", {}), depth + 1, hints=hints)
        return st.lists(items, max_size=10) | junk
    if (kind == "object" or "properties" in node) and depth < 3:
        props = node.get("properties", {})
        if not props:
            return st.dictionaries(st.text(max_size=8), JSON, max_size=4)
        fields = {
            name: from_schema(schema, sub, depth + 1, name, hints)
            for name, sub in props.items()
            if not sub.get("readOnly")
        }
        wanted = set(node.get("required", [])) | (set(hints) & set(fields))
        plausible = st.fixed_dictionaries(
            {name: hints.get(name, fields[name]) for name in fields if name in wanted},
            optional={name: fields[name] for name in fields if name not in wanted},
        )
        return plausible | st.fixed_dictionaries({}, optional=fields) | junk
    return JSON


def _operations():
    schema = _schema()
    for path, item in sorted(schema["paths"].items()):
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield pytest.param(path, method, id=f"{method.upper()} {path}")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return _schema()


def _hints(world):
    from labeling.models import Response

    task = world["open_task"]
    responses = list(Response.objects.filter(prompt=task.prompt).values_list("pk", flat=True))
    ranks = st.permutations([1, 2, 3, 4])
    return {
        "project": st.just("campaign"),
        "prompt": st.sampled_from([task.prompt_id, world["task"].prompt_id]),
        "responses": st.permutations(responses),
        "items": ranks.map(lambda r: [{"rank": x, "likert": 4, "flags": []} for x in r]),
        "gold_ranks": ranks,
        "text": st.sampled_from(["A fine prompt to answer", "Another answer."]),
        "kind": st.sampled_from(["comparisons", "rankings", "sft", "rm"]),
        "status": st.sampled_from(["accepted", "rejected"]),
        "reason": st.just("unclear"),
    }


def _path_value(name, world, schema_param):
    real = {
        "id": st.sampled_from(
            [world["task"].pk, world["open_task"].pk, world["ranking"].id, world["demo"].pk]
        ),
        "slug": st.just("campaign"),
    }
    base = real.get(name, st.nothing())
    if schema_param and "enum" in (schema_param.get("schema") or {}):
        base = base | st.sampled_from(schema_param["schema"]["enum"])
    return (
        base
        | st.integers(min_value=-(2**70), max_value=2**70).map(str)
        | WEIRD_TEXT.filter(lambda t: t and "/" not in t and "%" not in t)
    )


@pytest.mark.parametrize("path, method", list(_operations()))
@settings(
    max_examples=30,
    database=None,  # no .hypothesis folder in the repository
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_5xx(clients, world, schema, path, method, data):
    op = schema["paths"][path][method]
    params = {p["name"]: p for p in op.get("parameters", [])}
    url = path
    for name in [p for p in params if params[p]["in"] == "path"]:
        url = url.replace("{" + name + "}", str(data.draw(_path_value(name, world, params[name]))))
    hints = _hints(world)
    query = {}
    for name, param in params.items():
        if param["in"] == "query" and data.draw(st.booleans()):
            value = data.draw(from_schema(schema, param.get("schema", {}), 1, name, hints))
            query[name] = value if isinstance(value, str) else json.dumps(value)
    role = data.draw(st.sampled_from(["labeler", "other", "reviewer", "admin"]))
    client = clients[role]
    kwargs = {}
    if method in ("post", "put", "patch"):
        body_schema = (
            op.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema", {})
        )
        body = data.draw(from_schema(schema, body_schema, hints=hints) | JSON)
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        if query:
            from urllib.parse import urlencode

            url = f"{url}?{urlencode(query)}"
        response = getattr(client, method)(url, **kwargs)
    else:
        response = getattr(client, method)(url, query)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    STATS[(method, path, response.status_code)] += 1
    assert response.status_code < 500, (method, url, query, kwargs, response.content[:500])


def teardown_module(module):
    import os

    if os.environ.get("FUZZ_STATS"):
        for key, n in sorted(STATS.items()):
            print(*key, n)
