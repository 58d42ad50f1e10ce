"""labeling/limits.py: every size limit holds at its value and refuses one past it, in the
service that owns it; the request body limit answers 413; docs/limits.md lists them all."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from labeling import limits, projects
from labeling.assignment import demonstrations
from labeling.assignment.rankings import ItemInput, RankingError, record_ranking
from labeling.errors import ServiceError
from labeling.intake.prompts import clean_messages, clean_prompt
from labeling.intake.responses import check_response
from labeling.models import Demonstration, Response

ROOT = Path(__file__).parent.parent


def refusal(call) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        call()
    return refused.value


def test_prompt_text_and_each_message():
    n = limits.MAX_PROMPT_CHARS
    assert clean_prompt("p" * n, None)["text"] == "p" * n
    error = refusal(lambda: clean_prompt("p" * (n + 1), None))
    assert (error.field, error.message) == ("text", f"at most {n} characters (this has {n + 1})")
    turns = [{"role": "user", "content": "u" * n}]
    assert clean_messages(turns) == turns
    turns = [{"role": "system", "content": "s" * (n + 1)}, {"role": "user", "content": "Hi"}]
    error = refusal(lambda: clean_messages(turns))
    assert error.field == "messages" and error.message.startswith(f"message 0: at most {n} ")


def test_response_text():
    n = limits.MAX_RESPONSE_CHARS
    check_response("r" * n, origin=Response.Origin.MODEL, model_name="m")
    error = refusal(lambda: check_response("r" * (n + 1), origin="model", model_name="m"))
    assert error.field == "text" and f"at most {n} characters" in error.message


@pytest.mark.django_db
def test_demonstration_text_and_review_note(project, labeler, reviewer, make_task):
    prompt = make_task(k=4).prompt
    n = limits.MAX_DEMONSTRATION_CHARS
    error = refusal(lambda: demonstrations.submit_demonstration(prompt, labeler, "d" * (n + 1)))
    assert error.field == "text" and f"at most {n} characters" in error.message
    demo = demonstrations.submit_demonstration(prompt, labeler, "d" * n)
    note = "n" * (limits.MAX_REVIEW_NOTE_CHARS + 1)
    error = refusal(lambda: demonstrations.review(demo, reviewer, accept=False, note=note))
    assert error.field == "review_note"
    demonstrations.review(demo, reviewer, accept=False, note=note[1:])
    assert Demonstration.objects.get().review_note == note[1:]


@pytest.mark.django_db
def test_ranking_comment(project, labeler, make_task):
    task = make_task(k=4)
    n = limits.MAX_COMMENT_CHARS
    items = [ItemInput(rank=r) for r in (1, 2, 3, 4)]
    with pytest.raises(RankingError, match=f"comment: at most {n} characters"):
        record_ranking(task, labeler, items, comment="c" * (n + 1))
    assert record_ranking(task, labeler, items, comment="c" * n).comment == "c" * n


@pytest.mark.django_db
def test_guidelines_and_flags(project):
    n = limits.MAX_GUIDELINES_CHARS
    projects.update_project(project, guidelines="g" * n)
    error = refusal(lambda: projects.update_project(project, guidelines="g" * (n + 1)))
    assert error.field == "guidelines" and f"at most {n} characters" in error.message
    project.refresh_from_db()
    assert len(project.guidelines) == n
    flag = "f" * (limits.FLAG_MAX_CHARS + 1)
    assert refusal(lambda: projects.update_project(project, flags=[flag])).field == "flags"


def test_an_environment_variable_changes_a_limit():
    """Read once at start: a process started with the variable has the other limit."""
    script = (
        "import django; django.setup()\n"
        "from labeling.intake.prompts import clean_prompt\n"
        "clean_prompt('x' * 10, None)\n"
        "try:\n    clean_prompt('x' * 11, None)\n"
        "except ValueError as exc:\n    print(exc)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="preflab.settings")
    env["PREFLAB_MAX_PROMPT_CHARS"] = "10"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "text: at most 10 characters (this has 11)", done.stderr
    env["PREFLAB_MAX_PROMPT_CHARS"] = "-1"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "PREFLAB_MAX_PROMPT_CHARS must be a positive number" in done.stderr


def test_the_body_limit_is_the_setting(settings):
    assert limits.max_body_bytes() == 10 * 1024 * 1024  # the default (no variable in tests)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    assert limits.max_body_bytes() == 2048


@pytest.mark.django_db
def test_an_api_body_at_the_limit_passes_one_past_is_413(settings, admin_user):
    from rest_framework.test import APIClient

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    client = APIClient()
    client.force_authenticate(admin_user)

    def post(size):
        body = '{"project": "campaign", "text": "' + "t" * (size - 35) + '"}'
        assert len(body) == size
        return client.post("/api/v1/prompts/", body, content_type="application/json")

    assert post(200).status_code == 201
    refused = post(201)
    assert refused.status_code == 413
    assert refused.json() == {"body": ["the request body is larger than 200 bytes"]}


@pytest.mark.django_db
def test_a_form_over_the_limit_is_a_413_page(settings, client, labeler, project):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    response = client.post(url, {"prompt_id": 1, "text": "x" * 2000})
    assert response.status_code == 413
    assert b"<h1>Request too large</h1>" in response.content
    assert response["Content-Type"].startswith("text/html")
    assert not Demonstration.objects.exists()


@pytest.mark.django_db
def test_the_demonstration_page_says_the_limit(client, labeler, make_task, project):
    prompt = make_task(k=4).prompt
    client.force_login(labeler)
    url = reverse("demonstrate", args=[project.slug])
    text = "d" * (limits.MAX_DEMONSTRATION_CHARS + 1)
    response = client.post(url, {"prompt_id": prompt.pk, "text": text})
    assert response.status_code == 400  # the form again, with the error on the text
    assert f"at most {limits.MAX_DEMONSTRATION_CHARS} characters" in response.content.decode()
    assert not Demonstration.objects.exists()


def test_the_documentation_lists_every_limit():
    doc = (ROOT / "docs" / "limits.md").read_text()
    source = (ROOT / "labeling" / "limits.py").read_text()
    for variable in set(re.findall(r'"(PREFLAB_MAX_[A-Z_]+)"', source)) | {
        "PREFLAB_MAX_BODY_BYTES"
    }:
        assert f"`{variable}`" in doc, variable
    for name in ("MAX_PROMPT_CHARS", "MAX_RESPONSE_CHARS", "MAX_GUIDELINES_CHARS"):
        assert f"{getattr(limits, name):,}" in doc, name
