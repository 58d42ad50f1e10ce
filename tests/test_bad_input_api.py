"""The bad-input corpus of the API: each bad body is a 4xx whose JSON names the field (and
says the limit, for an oversize value), and nothing is written. The imports' corpus:
tests/test_bad_input_corpus.py.
"""

# ruff: noqa: F811 -- the fixtures of tests/api_world.py are imported, then requested by name

from dataclasses import dataclass, replace

import pytest

from labeling import limits
from tests.importing import counts

from .api_world import clients, fast_passwords, world  # noqa: F401

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"
ITEMS = [{"rank": r, "likert": 5} for r in (2, 1, 4, 3)]


def items(*ranks, likert=5):
    return [{"rank": r, "likert": likert} for r in ranks]


@dataclass
class Call:
    who: str  # a client of tests/api_world.py
    url: object  # (scene) -> str
    body: object  # (scene) -> the JSON body
    status: int
    field: str
    method: str = "post"
    says: str = ""  # a fragment of the field's message


def saying(says: str, call: Call) -> Call:
    return replace(call, says=says)


def at_most(limit: int) -> str:
    return f"at most {limit} characters"


def submit(body):
    """omar's submit of the task he holds."""
    return Call("other", lambda s: f"{TASKS}{s['held']}/submit/", lambda s: body, 400, "")


def submit_refused(field, **body):
    call = submit({"items": ITEMS, **body})
    call.field = field
    return call


def ranked(field, ranking_items):
    call = submit({"items": ranking_items})
    call.field = field
    return call


def new_task(field, responses):
    """rita (a reviewer) makes a task over the open task's prompt."""
    return Call(
        "reviewer",
        lambda s: TASKS,
        lambda s: {"project": "campaign", "prompt": s["prompt"], "responses": responses(s)},
        400,
        field,
    )


def new_prompt(field, **body):
    return Call(
        "admin", lambda s: "/api/v1/prompts/", lambda s: {"project": "campaign", **body}, 400, field
    )


def new_response(field, **body):
    return Call(
        "admin",
        lambda s: "/api/v1/responses/",
        lambda s: {"prompt": s["prompt"], **body},
        400,
        field,
    )


def new_demonstration(field, **body):
    return Call(
        "labeler",
        lambda s: "/api/v1/demonstrations/",
        lambda s: {"prompt": s["prompt"], **body},
        400,
        field,
    )


def oversize_body(url, who="admin"):
    # one byte over: a JSON string of the limit's length plus its quotes and the key
    padding = "p" * limits.max_body_bytes()
    says = f"the request body is larger than {limits.max_body_bytes()} bytes"
    return Call(who, lambda s: url, lambda s: {"text": padding}, 413, "body", says=says)


TOO_LONG_PROMPT = "x" * (limits.MAX_PROMPT_CHARS + 1)
TOO_LONG_RESPONSE = "r" * (limits.MAX_RESPONSE_CHARS + 1)

API_CASES = {
    "ranking-all-tied": ranked("ranks", items(1, 1, 1, 1)),
    "ranking-too-few-items": ranked("ranks", items(1, 2, 3)),
    "ranking-too-many-items": ranked("ranks", items(1, 2, 3, 4, 4)),
    "ranking-rank-zero": ranked("ranks", items(0, 1, 2, 3)),
    "ranking-rank-beyond-k": ranked("ranks", items(1, 2, 3, 5)),
    "ranking-rank-negative": ranked("ranks", items(-1, 1, 2, 3)),
    "ranking-rank-not-a-number": ranked("items", [{"rank": "first"}] * 4),
    "ranking-items-not-a-list": ranked("items", "1,2,3,4"),
    "ranking-items-null": ranked("items", None),
    "ranking-likert-zero": ranked("likert", items(1, 2, 3, 4, likert=0)),
    "ranking-likert-eight": ranked("likert", items(1, 2, 3, 4, likert=8)),
    "ranking-comment-wrong-type": submit_refused("comment", comment=["a", "list"]),
    "ranking-comment-nul": submit_refused("comment", comment="a\x00b"),
    "ranking-comment-oversize": saying(
        at_most(limits.MAX_COMMENT_CHARS),
        submit_refused("comment", comment="c" * (limits.MAX_COMMENT_CHARS + 1)),
    ),
    "ranking-seconds-negative": submit_refused("seconds_spent", seconds_spent=-5),
    "ranking-another-labelers-task": Call(
        "labeler",
        lambda s: f"{TASKS}{s['held']}/submit/",
        lambda s: {"items": ITEMS},
        404,
        "detail",
    ),
    "skip-another-labelers-task": Call(
        "labeler",
        lambda s: f"{TASKS}{s['held']}/skip/",
        lambda s: {"reason": "unclear"},
        404,
        "detail",
    ),
    "task-foreign-response-ids": new_task("responses", lambda s: s["foreign_responses"]),
    "task-unknown-response-id": new_task("responses", lambda s: [*s["responses"][:-1], 2**31 - 1]),
    "task-same-response-twice": new_task("responses", lambda s: [s["responses"][0]] * 4),
    "prompt-null-text": new_prompt("text", text=None),
    "prompt-nul": new_prompt("text", text="a\x00b"),
    "prompt-messages-not-a-list": new_prompt("messages", messages="hello"),
    "prompt-oversize": saying(
        at_most(limits.MAX_PROMPT_CHARS), new_prompt("text", text=TOO_LONG_PROMPT)
    ),
    "prompt-message-oversize": saying(
        at_most(limits.MAX_PROMPT_CHARS),
        new_prompt("messages", messages=[{"role": "user", "content": TOO_LONG_PROMPT}]),
    ),
    "response-oversize": saying(
        at_most(limits.MAX_RESPONSE_CHARS), new_response("text", text=TOO_LONG_RESPONSE)
    ),
    "response-nul": new_response("text", text="r\x00"),
    "response-unknown-prompt": Call(
        "admin",
        lambda s: "/api/v1/responses/",
        lambda s: {"prompt": 2**31 - 1, "text": "fine"},
        400,
        "prompt",
    ),
    "demonstration-oversize": saying(
        at_most(limits.MAX_DEMONSTRATION_CHARS),
        new_demonstration("text", text="d" * (limits.MAX_DEMONSTRATION_CHARS + 1)),
    ),
    "demonstration-nul": new_demonstration("text", text="d\x00"),
    "demonstration-text-null": new_demonstration("text", text=None),
    "review-note-oversize": saying(
        at_most(limits.MAX_REVIEW_NOTE_CHARS),
        Call(
            "reviewer",
            lambda s: f"/api/v1/demonstrations/{s['demo']}/review/",
            lambda s: {
                "status": "rejected",
                "review_note": "n" * (limits.MAX_REVIEW_NOTE_CHARS + 1),
            },
            400,
            "review_note",
        ),
    ),
    "guidelines-oversize": saying(
        at_most(limits.MAX_GUIDELINES_CHARS),
        Call(
            "admin",
            lambda s: "/api/v1/projects/campaign/",
            lambda s: {"guidelines": "g" * (limits.MAX_GUIDELINES_CHARS + 1)},
            400,
            "guidelines",
            "patch",
        ),
    ),
    "guidelines-wrong-type": Call(
        "admin",
        lambda s: "/api/v1/projects/campaign/",
        lambda s: {"guidelines": ["a"]},
        400,
        "guidelines",
        "patch",
    ),
    "body-oversize-prompts": oversize_body("/api/v1/prompts/"),
    "body-oversize-submit": oversize_body(f"{TASKS}1/submit/", who="other"),
}


def api_counts():
    from labeling.models import Demonstration, Project

    return {
        **counts(),
        "Demonstration": Demonstration.objects.count(),
        "guidelines": list(Project.objects.values_list("guidelines", flat=True)),
    }


@pytest.fixture
def scene(clients, world):
    """omar holds the open task; its prompt, its responses, and the ranked task's."""
    from labeling.models import Response

    got = clients["other"].post(TASKS + "next/", {"project": "campaign"}, format="json")
    assert got.status_code == 200
    task = world["open_task"]
    ids = lambda t: list(Response.objects.filter(prompt=t.prompt).values_list("pk", flat=True))  # noqa: E731
    return {
        "held": got.json()["task"]["id"],
        "prompt": task.prompt_id,
        "responses": ids(task),
        "foreign_responses": ids(world["task"]),
        "demo": world["demo"].pk,
    }


@pytest.mark.parametrize("call", API_CASES.values(), ids=API_CASES.keys())
def test_api_refuses_naming_the_field(call, clients, scene):
    before = api_counts()
    send = getattr(clients[call.who], call.method)
    response = send(call.url(scene), call.body(scene), format="json")
    assert response.status_code == call.status, response.content[:300]
    errors = response.json()
    assert call.field in errors, errors
    assert call.says in str(errors[call.field]), errors
    assert api_counts() == before
