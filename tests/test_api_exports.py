"""/api/v1/exports/<kind>/: streamed downloads for reviewers and admins."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import gzip
import io
import json

import pytest

from .api_world import clients, expect, fast_passwords, statuses, world  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/v1/exports/"


def _rows(response):
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


@pytest.mark.parametrize("kind", ["comparisons", "rankings", "demonstrations"])
def test_matrix(clients, world, kind):
    url = f"{URL}{kind}/?project=campaign"
    assert statuses(clients, "get", url) == expect([401, 403, 403, 200, 200])


def test_streams_jsonl(clients, world):
    response = clients["reviewer"].get(URL + "comparisons/?project=campaign")
    assert response.streaming and response["Content-Type"] == "application/jsonl"
    rows = _rows(response)
    assert len(rows) == 6 and rows[0]["labeler"] == "lena"
    grouped = _rows(clients["reviewer"].get(URL + "rankings/?project=campaign"))
    assert grouped[0]["ranks"] == [1, 2, 3, 4]


def test_gzip_and_parquet(clients, world):
    import pyarrow.parquet as pq

    response = clients["reviewer"].get(URL + "comparisons/?project=campaign&gzip=true")
    data = gzip.decompress(b"".join(response.streaming_content))
    assert data.count(b"\n") == 6
    response = clients["reviewer"].get(URL + "rankings/?project=campaign&file_format=parquet")
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.num_rows == 1 and table.column("ranks").to_pylist() == [[1, 2, 3, 4]]


def test_demonstration_options(clients, world):
    url = URL + "demonstrations/?project=campaign"
    assert _rows(clients["reviewer"].get(url)) == []  # pending only so far
    rows = _rows(clients["reviewer"].get(url + "&status=all&style=messages"))
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": "An answer."}


@pytest.mark.parametrize(
    "query, field",
    [
        ("comparisons/?project=campaign&split=dev", "split"),
        ("comparisons/?project=campaign&min_agreement=abc", "min_agreement"),
        ("comparisons/?project=campaign&file_format=csv", "file_format"),
        ("comparisons/", "project"),
        ("pairs/?project=campaign", "kind"),
        ("pairs/?project=nope", "kind"),  # the request is refused before any project is read
        ("demonstrations/?project=campaign&consensus=true", "consensus"),
    ],
)
def test_errors_name_the_field(clients, world, query, field):
    response = clients["reviewer"].get(URL + query)
    assert response.status_code == 400 and field in response.json(), response.json()


@pytest.mark.parametrize(
    "kind, query, options",
    [
        ("comparisons", "&consensus=true&split=train", {"consensus": True, "split": "train"}),
        ("rankings", "&include_gold=1&min_agreement=0.25", {"include_gold": True,
                                                            "min_agreement": 0.25}),
        ("demonstrations", "&status=all&conversational=true", {"status": "all",
                                                               "conversational": True}),
    ],
)  # fmt: skip
def test_query_options_are_the_export_options(clients, world, kind, query, options):
    from labeling.models import Project
    from labeling.outputs.exports import export_rows

    rows = _rows(clients["reviewer"].get(f"{URL}{kind}/?project=campaign{query}"))
    project = Project.objects.get(slug="campaign")
    assert rows == json.loads(json.dumps(list(export_rows(kind, project, options))))


def test_unknown_project_is_404(clients, world):
    assert clients["reviewer"].get(URL + "comparisons/?project=nope").status_code == 404
