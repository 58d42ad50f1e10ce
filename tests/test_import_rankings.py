import gzip
import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from labeling.models import Project, Ranking, RankingTask
from labeling.outputs.comparisons import pair_count

from .importing import counts, run, write_jsonl

pytestmark = pytest.mark.django_db
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_rankings_with_ties_and_labelers(tmp_path):
    rows = [
        {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
         "ranks": [1, 2, 2, 4], "labeler": "ann"},
        {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Plum", "Fig"],
         "ranks": [4, 3, 2, 1], "labeler": "bob"},
    ]  # fmt: skip
    out, _ = run("import_rankings", write_jsonl(tmp_path / "r.jsonl", rows))
    assert "rows read: 2, created: 2" in out
    ann = Ranking.objects.get(labeler__username="ann")
    ranks = {i.response.text: i.rank for i in ann.items.select_related("response")}
    assert ranks == {"Apple": 1, "Pear": 2, "Plum": 2, "Fig": 4}
    assert pair_count(list(ranks.values())) == 5  # C(4,2) = 6 minus one tie
    # Both rankings are two labelers' rankings of one imported task, as if collected.
    task = RankingTask.objects.get()
    assert task.overlap == 2 and task.rankings.filter(is_current=True).count() == 2
    # the same labeler again, with the responses in another order: a duplicate
    again = dict(rows[0], responses=["Fig", "Plum", "Pear", "Apple"], ranks=[4, 2, 2, 1])
    out, _ = run("import_rankings", write_jsonl(tmp_path / "again.jsonl", [again]))
    assert "skipped as duplicates: 1" in out and RankingTask.objects.get().overlap == 2


@pytest.mark.parametrize(
    "row, message",
    [
        ({"prompt": "P", "responses": ["a"], "ranks": [1]}, "responses: must be a list of 2 to 9"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1]}, "ranks: expected 2 ranks"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 3]}, "ranks: 3 is outside 1..2"),
        ({"prompt": "P", "responses": ["a", "a"], "ranks": [1, 2]}, "responses: the same"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 1]}, "ranks: every response"),
        ({"prompt": "P", "responses": ["a", "b"], "ranks": [1, 2], "likert": [9, 1]}, "likert:"),
    ],
)
def test_bad_ranking_rows(tmp_path, row, message):
    path = write_jsonl(
        tmp_path / "r.jsonl", [{"prompt": "Q", "responses": ["x", "y"], "ranks": [1, 2]}, row]
    )
    before = counts()
    with pytest.raises(CommandError, match=f":2: {message}"):
        run("import_rankings", path)
    assert counts() == before


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not present")
def test_real_open_assistant_rankings(tmp_path):
    rows = []
    with gzip.open(SHARED / "oasst-en-100-assistant-rankings.jsonl.gz", "rt") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append(
                {
                    "prompt": [
                        {"role": m["role"], "content": m["text"]} for m in record["conversation"]
                    ],
                    "responses": record["responses"],
                    "ranks": [r + 1 for r in record["ranks"]],  # OASST: 0 = best
                    "labeler": "oasst",
                }
            )
    out, err = run(
        "import_rankings", write_jsonl(tmp_path / "oa.jsonl", rows), "oa", "--skip-invalid"
    )
    created = int(out.split("created: ")[1].split(",")[0])
    assert created >= 190, (out, err)
    ks = set(Ranking.objects.values_list("task__k", flat=True))
    assert {2, 3, 4, 9} <= ks


# A campaign of 3 labelers: each prompt's responses and each labeler's ranks of them.
CAMPAIGN = {
    "Name a fruit.": (["Apple", "Pear", "Plum", "Fig"],
                      {"ann": [1, 2, 3, 4], "bob": [1, 3, 2, 4], "cid": [2, 1, 3, 4]}),
    "Name a colour.": (["Red", "Blue", "Green", "Grey"],
                       {"ann": [4, 3, 2, 1], "bob": [4, 3, 1, 2], "cid": [3, 4, 2, 1]}),
    "Name a tree.": (["Oak", "Elm", "Ash", "Yew"],
                     {"ann": [1, 1, 3, 4], "bob": [2, 1, 3, 4], "cid": [1, 2, 4, 3]}),
}  # fmt: skip


def collected_through_the_api(tmp_path):
    """The campaign as labelers submit it: tasks with overlap 3, next + submit per labeler."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from labeling import roles
    from labeling.models import Project

    rows = [{"prompt": p, "response": r} for p, (rs, _) in CAMPAIGN.items() for r in rs]
    run("import_responses", write_jsonl(tmp_path / "responses.jsonl", rows), "api")
    Project.objects.filter(slug="api").update(overlap=3, gold_rate=0)
    call_command("create_tasks", "--project", "api", "--k", "4", stdout=StringIO())
    project = Project.objects.get(slug="api")
    for name in ("ann", "bob", "cid"):
        user = get_user_model().objects.get_or_create(username=name)[0]
        roles.grant(user, project, "labeler")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        while (got := client.post("/api/v1/tasks/next/", {"project": "api"}, format="json")).data:
            task = got.json()["task"]
            texts, ranks = CAMPAIGN[task["prompt"]["text"]]
            rank_of = dict(zip(texts, ranks[name], strict=True))
            items = [{"rank": rank_of[r["text"]], "likert": 4} for r in task["responses"]]
            done = client.post(
                f"/api/v1/tasks/{task['id']}/submit/", {"items": items}, format="json"
            )
            assert done.status_code == 201, done.json()
    return project


def summary(project):
    from labeling.outputs.exports import export_rows
    from labeling.quality.agreement import project_agreement

    def rows(**options):
        return sorted(
            (row["prompt"], row["labeler"], tuple(sorted(zip(*pair, strict=True))))
            for row in export_rows("rankings", project, options)
            for pair in [(row["responses"], row["ranks"])]
        )

    document = project_agreement(project)
    document.pop("pairwise_agreement_ci")  # a bootstrap: its draws follow the row order
    return {"agreement": document, "grouped": rows(), "consensus": rows(consensus=True)}


def test_an_imported_campaign_is_the_campaign_collected(tmp_path):
    """Imported rankings of 3 labelers give the agreement, consensus and grouped export that the
    same rankings collected through the API give."""
    collected = summary(collected_through_the_api(tmp_path))
    rows = [
        {"prompt": p, "responses": rs, "ranks": by[name], "likert": [4] * 4, "labeler": name}
        for p, (rs, by) in CAMPAIGN.items()
        for name in ("ann", "bob", "cid")
    ]
    run("import_rankings", write_jsonl(tmp_path / "rankings.jsonl", rows), "imp")
    imported = summary(Project.objects.get(slug="imp"))
    assert imported["agreement"]["n_tasks_with_overlap"] == 3
    assert len(imported["consensus"]) == 3 and len(imported["grouped"]) == 9
    assert imported == collected


def test_rankings_across_chunks(tmp_path, monkeypatch):
    """Chunks of 2 rows: a task made by one chunk gains the next chunk's labelers, the same
    labeler again is a duplicate there too, and a row refused by the ranking service after
    its new prompt was made takes the prompt back without spoiling the rows after it."""
    from .importing import in_chunks_of

    in_chunks_of(monkeypatch, 2)
    fruit = {"prompt": "Best fruit?", "responses": ["Apple", "Pear", "Fig"]}
    fresh = {"prompt": "A fresh prompt.", "responses": ["x", "y"], "ranks": [1, 2]}
    rows = [
        dict(fruit, ranks=[1, 2, 3], labeler="ann"),
        dict(fruit, ranks=[3, 2, 1], labeler="bob"),
        dict(fruit, responses=["Fig", "Pear", "Apple"], ranks=[1, 2, 3], labeler="ann"),
        dict(fruit, ranks=[2, 1, 3], labeler="cid"),
        dict(fresh, likert=[9, 1], labeler="ann"),  # off the project's scale: refused
        dict(fresh, labeler="ann"),
    ]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    out, err = run("import_rankings", path, "imp", "--skip-invalid")
    assert out.strip() == (
        "rows read: 6, created: 4, skipped as invalid: 1, skipped as duplicates: 1, capped: 0"
    )
    assert ":5: likert:" in err
    fruit_task = RankingTask.objects.get(prompt__text="Best fruit?")
    assert fruit_task.overlap == 3 and fruit_task.rankings.count() == 3
    assert RankingTask.objects.get(prompt__text="A fresh prompt.").rankings.count() == 1


def test_a_bad_ranking_row_in_a_later_chunk_writes_nothing(tmp_path, monkeypatch):
    from .importing import in_chunks_of

    in_chunks_of(monkeypatch, 2)
    rows = [{"prompt": f"P{i}", "responses": ["a", "b"], "ranks": [1, 2]} for i in range(5)]
    rows[3]["ranks"] = [1, 3]  # line 4, the second chunk
    before = counts()
    with pytest.raises(CommandError, match=r"r.jsonl:4: ranks: 3 is outside 1..2"):
        run("import_rankings", write_jsonl(tmp_path / "r.jsonl", rows))
    assert counts() == before
