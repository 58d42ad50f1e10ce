"""/api/v1/prompts/ and /api/v1/responses/: matrix, bulk create, dedup, field errors."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_prompt_matrix(clients, world):
    prompt = world["task"].prompt
    assert statuses(clients, "get", "/api/v1/prompts/") == expect([401, 200, 200, 200, 200])
    url = f"/api/v1/prompts/{prompt.pk}/"
    assert statuses(clients, "get", url) == expect([401, 200, 200, 200, 200])
    body = lambda role: {"project": "campaign", "text": f"New prompt by {role}"}  # noqa: E731
    assert statuses(clients, "post", "/api/v1/prompts/", body) == expect([401, 403, 403, 403, 201])


def test_response_matrix(clients, world):
    response = world["task"].ordered_responses()[0]
    assert statuses(clients, "get", "/api/v1/responses/") == expect([401, 200, 200, 200, 200])
    assert clients["labeler"].get("/api/v1/responses/").json()["results"] == []
    url = f"/api/v1/responses/{response.pk}/"
    assert statuses(clients, "get", url) == expect([401, 404, 404, 200, 200])
    body = lambda role: {"prompt": response.prompt_id, "text": f"Another by {role}"}  # noqa: E731
    assert statuses(clients, "post", "/api/v1/responses/", body) == expect(
        [401, 403, 403, 403, 201]
    )


def test_bulk_prompts_one_transaction(clients, project):
    from labeling.models import Prompt

    rows = [
        {"project": "campaign", "text": "Write a poem about rain.", "source_user": "u1"},
        {"project": "campaign", "messages": [{"role": "user", "content": "Hi there"}]},
        {"project": "campaign", "text": "Summarise this text.", "category": "summarization"},
    ]
    response = clients["admin"].post("/api/v1/prompts/", rows, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [p["split"] in ("train", "validation", "test") for p in body] == [True] * 3
    assert body[1]["messages"] == [{"role": "user", "content": "Hi there"}]
    # A duplicate in a batch rejects the whole batch, naming the item and the field.
    again = [{"project": "campaign", "text": "Fresh one"}, rows[0]]
    response = clients["admin"].post("/api/v1/prompts/", again, format="json")
    assert response.status_code == 400
    assert response.json()[0] == {} and "text" in response.json()[1]
    assert Prompt.objects.count() == 3


@pytest.mark.parametrize(
    "body, field",
    [
        ({"project": "campaign"}, "text"),
        (
            {"project": "campaign", "text": "x", "messages": [{"role": "user", "content": "y"}]},
            "text",
        ),
        ({"project": "campaign", "messages": [{"role": "robot", "content": "y"}]}, "messages"),
        ({"project": "campaign", "messages": [{"role": "assistant", "content": "y"}]}, "messages"),
        ({"project": "nope", "text": "x"}, "project"),
        ({"project": "campaign", "text": "x", "category": "poetry"}, "category"),
        ({"project": "campaign", "text": "x", "metadata": [1]}, "metadata"),
    ],
)
def test_prompt_errors_name_the_field(clients, project, body, field):
    response = clients["admin"].post("/api/v1/prompts/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_prompt_service_refusals_name_the_field(clients, project):
    """The rules are PromptBook's, the same as the imports' (a blank message was accepted
    here and refused there); duplicates name the id or the text, the cap the author."""
    from labeling.models import Prompt

    project.prompt_cap_per_user = 1
    project.save()
    post = lambda body: clients["admin"].post("/api/v1/prompts/", body, format="json")  # noqa: E731
    blank = post({"project": "campaign", "messages": [{"role": "user", "content": "  "}]})
    assert blank.status_code == 400 and blank.json() == {"messages": ["message 0 has no content"]}
    first = {"project": "campaign", "text": "First prompt.", "external_id": "a", "source_user": "u"}
    assert post(first).status_code == 201
    rows = [
        first | {"text": "Other text."},
        first | {"external_id": "b"},
        first | {"text": "Third prompt.", "external_id": "c"},
        {"project": "campaign", "text": "Fourth prompt."},
    ]
    response = post(rows)
    assert response.status_code == 400
    assert [list(item) for item in response.json()] == [
        ["external_id"],
        ["text"],
        ["source_user"],
        [],
    ]
    assert response.json()[2] == {"source_user": ["already has 1 prompts (the per-user cap)"]}
    assert Prompt.objects.count() == 1


def test_bulk_responses_and_duplicates(clients, world):
    prompt = world["open_task"].prompt
    rows = [{"prompt": prompt.pk, "text": t, "model_name": "m"} for t in ("a", "b", "c")]
    response = clients["admin"].post("/api/v1/responses/", rows, format="json")
    assert response.status_code == 201 and len(response.json()) == 3
    dup = clients["admin"].post("/api/v1/responses/", [rows[0]], format="json")
    assert dup.status_code == 400 and "text" in dup.json()[0]
    foreign = clients["admin"].post(
        "/api/v1/responses/", {"prompt": 999999, "text": "z"}, format="json"
    )
    assert foreign.status_code == 400 and "prompt" in foreign.json()
    # the response service's rule on metadata, not a serializer's: a 400 naming the field
    from labeling.models import Response

    before = Response.objects.count()
    bad = clients["admin"].post(
        "/api/v1/responses/", {"prompt": prompt.pk, "text": "d", "metadata": [1]}, format="json"
    )
    assert bad.status_code == 400 and "metadata" in bad.json(), bad.json()
    assert Response.objects.count() == before


def test_response_checkpoint_is_an_id(clients, world):
    """A response names the checkpoint that generated it by id: checked on create, returned
    as an integer, filterable. An unknown checkpoint is refused on that field."""
    from training.models import Checkpoint

    checkpoint = Checkpoint.objects.create(name="sft", kind="sft", path="/tmp/sft")
    prompt = world["open_task"].prompt
    body = {"prompt": prompt.pk, "text": "sampled", "origin": "checkpoint"}
    created = clients["admin"].post(
        "/api/v1/responses/", body | {"checkpoint": checkpoint.pk}, format="json"
    )
    assert created.status_code == 201 and created.json()["checkpoint"] == checkpoint.pk
    unknown = clients["admin"].post(
        "/api/v1/responses/", body | {"text": "other", "checkpoint": 999999}, format="json"
    )
    assert unknown.status_code == 400 and list(unknown.json()) == ["checkpoint"]
    listed = clients["reviewer"].get(f"/api/v1/responses/?checkpoint={checkpoint.pk}").json()
    assert [r["id"] for r in listed["results"]] == [created.json()["id"]]
    assert clients["reviewer"].get("/api/v1/responses/?checkpoint=999999").status_code == 400
    untracked = clients["reviewer"].get(f"/api/v1/responses/?prompt={prompt.pk}").json()
    assert {r["checkpoint"] for r in untracked["results"]} == {None, checkpoint.pk}


def test_filters(clients, world):
    prompt = world["task"].prompt
    url = f"/api/v1/prompts/?project=campaign&split={prompt.split}"
    ids = [p["id"] for p in clients["reviewer"].get(url).json()["results"]]
    assert prompt.pk in ids
    url = f"/api/v1/responses/?prompt={prompt.pk}"
    assert len(clients["reviewer"].get(url).json()["results"]) == 4


def test_cursor_pagination(clients, project):
    rows = [{"project": "campaign", "text": f"Prompt {i} " + "x" * i} for i in range(7)]
    assert clients["admin"].post("/api/v1/prompts/", rows, format="json").status_code == 201
    page = clients["admin"].get("/api/v1/prompts/?page_size=3").json()
    seen = [p["id"] for p in page["results"]]
    while page["next"]:
        page = clients["admin"].get(page["next"]).json()
        seen += [p["id"] for p in page["results"]]
    assert len(seen) == 7 and seen == sorted(seen)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"project": "camp\x00aign", "text": "x"}, "project"),
        ({"project": "campaign", "text": "x", "metadata": {"k": "v\x00"}}, "metadata"),
        ({"project": "campaign", "text": "x\x00"}, "text"),
    ],
)
def test_nul_characters_are_a_400(clients, project, body, field):
    # PostgreSQL refuses NUL in text and jsonb: found by tests/test_api_fuzz.py as a 500
    response = clients["admin"].post("/api/v1/prompts/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    bad_filter = clients["admin"].get("/api/v1/prompts/", {"source_user": "a\x00"})
    assert bad_filter.status_code == 400 and "source_user" in bad_filter.json()
