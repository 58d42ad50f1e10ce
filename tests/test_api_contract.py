"""The API keeps its published contract: schemathesis (``--checks all``) against a live server.

Every operation of ``/api/schema/`` is called over HTTP with schema-valid and schema-invalid
requests, as an admin and as a labeler, on a world of real objects (tests/api_world.py)
whose ids and slug the generated requests use half of the time. The run must find no
server error, no status code, content type or body the schema does not document, no
schema-invalid request accepted and no schema-valid one refused (with the one exception
below).
"""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from .api_world import clients, fast_passwords, world  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# One exception, to the positive_data_acceptance check only: a request of the schema's
# shape may still be a 400 where the answer depends on what is stored, which no schema
# can say: a body naming a row by id or slug that does not exist (or that the caller
# cannot see), a slug already taken, a transition the object's state refuses (review an
# accepted demonstration, resume a running pipeline), a rule across fields or rows (until
# after since, as many ranks as the task has responses), an export option the kind does
# not take. Every write is such an operation, and these reads. Everything else (types,
# enums, bounds, formats, pagination, status codes, bodies) is checked everywhere.
STORED_DATA_DECIDES = ["2xx", "400", "401", "403", "404", "409", "429"]
READS_THAT_CHECK_STORED_DATA = (
    r"^/api/v1/(responses/|projects/\{slug\}/agreement/|exports/\{kind\}/"
    r"|evaluations/\{id\}/report/|snapshots/\{id\}/download/)$"
)


def contract_config(world) -> str:
    """schemathesis.toml: the exception above, and the world's ids and slug to draw from."""
    from labeling.models import Response

    tasks = [world["task"], world["open_task"]]
    prompts = sorted({task.prompt_id for task in tasks})
    responses = sorted(Response.objects.filter(prompt_id__in=prompts).values_list("pk", flat=True))
    ids = sorted({*prompts, *responses, *(t.pk for t in tasks), world["ranking"].id})
    ids.append(world["demo"].pk)
    real = {"id": ids, "prompt": prompts, "task": [t.pk for t in tasks], "project": ["campaign"]}
    dictionaries = "".join(
        f"[dictionaries.{name}]\nvalues = {json.dumps(sorted(set(values)))}\n\n"
        for name, values in real.items()
    )
    # half of the requests name a real row, so they get past the 404 to the code behind it
    bindings = {
        "path.id": "id",
        "path.slug": "project",
        "query.project": "project",
        "query.prompt": "prompt",
        "query.task": "task",
        "body.project": "project",
        "body.prompt": "prompt",
    }
    parameters = "".join(
        f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}\n'
        for key, name in bindings.items()
    )
    return f"""{dictionaries}[parameters]
{parameters}
[[operations]]
include-method-regex = "^(POST|PUT|PATCH|DELETE)$"
checks.positive_data_acceptance.expected-statuses = {json.dumps(STORED_DATA_DECIDES)}

[[operations]]
include-method = "GET"
include-path-regex = {json.dumps(READS_THAT_CHECK_STORED_DATA)}
checks.positive_data_acceptance.expected-statuses = {json.dumps(STORED_DATA_DECIDES)}
"""


@pytest.fixture(autouse=True)
def no_anonymous_rate(settings):
    """The ignored_auth check sends each operation without credentials and wants the 401;
    past the anonymous rate (api/throttles.py, tested in its own module) those would be
    429s, which the schema documents but that check does not take."""
    settings.PREFLAB_ANON_THROTTLE = ""


def run_schemathesis(url, user, config, tmp_path, *options):
    """One seeded, bounded run as ``user``; returns (exit code, its output)."""
    token = Token.objects.create(user=user).key
    config_path = tmp_path / "schemathesis.toml"
    config_path.write_text(config)
    command = [
        str(SCHEMATHESIS),
        f"--config-file={config_path}",
        "run",
        f"{url}/api/schema/",
        "--checks=all",
        "--seed=18",
        "--workers=1",
        "--no-shrink",
        "--generation-database=none",
        "--request-timeout=30",
        f"--header=Authorization: Token {token}",
        # a new connection per request: on a kept-alive one the test server's separate
        # header and body writes meet delayed ACKs, 40 ms a request
        "--header=Connection: close",
        "--no-color",
        *options,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = done.stdout + done.stderr
    print(summary(output).partition("\n")[0])  # the case count, under -s or -rP
    return done.returncode, output


def summary(output: str) -> str:
    """The run's failures by kind and its case count, for the assertion message."""
    tail = output[output.rfind("SUMMARY") :]
    failures = re.findall(r"❌ (ST\d+ [^:\n]+): (\d+)", tail)
    cases = re.search(r"(\d+) generated", tail)
    return f"{cases.group(0) if cases else '?'}; failures: {failures}\n\n{output[-30000:]}"


def test_admin_keeps_the_contract(live_server, world, admin_user, tmp_path):
    """Every phase: the schema's examples, its boundaries (coverage), random requests
    (fuzzing) and chains of calls that pass ids along (stateful)."""
    code, output = run_schemathesis(
        live_server.url, admin_user, contract_config(world), tmp_path, "--max-examples=10"
    )
    assert code == 0, summary(output)


def test_labeler_keeps_the_contract(live_server, world, labeler, tmp_path):
    """What a labeler is shown (tasks without gold, their own rankings) and refused (403,
    404) is documented too."""
    code, output = run_schemathesis(
        live_server.url,
        labeler,
        contract_config(world),
        tmp_path,
        "--phases=examples,fuzzing,stateful",
        "--max-examples=5",
    )
    assert code == 0, summary(output)
