"""labeling/outputs/exports.py: pair expansion, which rankings count, columns and order."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from math import comb

import pytest

from labeling.assignment.rankings import ItemInput, record_ranking
from labeling.models import Prompt, RankingTask
from labeling.outputs import exports

from .api_world import fast_passwords  # noqa: F401
from .exporting import rank

pytestmark = pytest.mark.django_db

CASES = [
    # (ranks, expected pairs) — without ties C(K,2); a tie of n removes C(n,2)
    *[(list(range(1, k + 1)), comb(k, 2)) for k in range(4, 10)],
    *[(list(range(k, 0, -1)), comb(k, 2)) for k in range(4, 10)],
    ([1, 2, 2, 4], 5),
    ([1, 1, 3, 3, 5], 8),
    ([2, 1, 2, 1, 3, 3], 12),
    ([1, 2, 3, 3, 3, 6, 7], 18),
    ([1, 1, 1, 1, 5, 6, 7, 8], 22),
    ([1, 2, 2, 2, 2, 2, 2, 2, 9], 15),
]


@pytest.mark.parametrize("ranks, expected", CASES)
def test_pair_expansion_counts_and_orientation(project, make_task, labeler, ranks, expected):
    project.k_max = 9
    project.save()
    task = make_task(k=len(ranks))
    ranking = rank(task, labeler, ranks)
    texts = [r.text for r in task.ordered_responses()]
    rank_of = dict(zip(texts, ranks, strict=True))
    rows = list(exports.export_rows("comparisons", project))
    assert len(rows) == expected
    for row in rows:
        # chosen is always the strictly better-ranked response (1 = best)
        assert rank_of[row["chosen"]] < rank_of[row["rejected"]]
        assert row["ranking_id"] == ranking.id and row["task_id"] == task.pk
        assert row["labeler"] == "lena" and row["prompt"] == task.prompt.text
    assert len({(r["chosen"], r["rejected"]) for r in rows}) == expected


def test_columns_and_deterministic_order(project, make_task, labeler, other_labeler):
    tasks = [make_task(k=4) for _ in range(3)]
    for task in tasks:
        rank(task, labeler, [1, 2, 3, 4])
        rank(task, other_labeler, [4, 3, 2, 1])
    rows = list(exports.export_rows("comparisons", project))
    assert list(rows[0]) == [
        "prompt",
        "chosen",
        "rejected",
        "ranking_id",
        "task_id",
        "labeler",
        "split",
    ]
    assert [r["ranking_id"] for r in rows] == sorted(r["ranking_id"] for r in rows)
    assert rows == list(exports.export_rows("comparisons", project))
    grouped = list(exports.export_rows("rankings", project))
    assert list(grouped[0]) == [
        "prompt",
        "responses",
        "ranks",
        "ranking_id",
        "task_id",
        "labeler",
        "split",
    ]
    assert len(grouped) == 6
    assert grouped[0]["responses"] == [r.text for r in tasks[0].ordered_responses()]
    assert grouped[0]["ranks"] == [1, 2, 3, 4] and grouped[1]["ranks"] == [4, 3, 2, 1]


def test_only_current_rankings(project, make_task, labeler):
    task = make_task(k=4)
    rank(task, labeler, [1, 2, 3, 4])
    corrected = rank(task, labeler, [4, 3, 2, 1])  # a correction supersedes the first
    rows = list(exports.export_rows("rankings", project))
    assert [r["ranking_id"] for r in rows] == [corrected.id]
    assert rows[0]["ranks"] == [4, 3, 2, 1]


def test_gold_only_when_asked(project, make_task, labeler):
    gold = make_task(k=4, is_gold=True, gold_ranks=[1, 2, 3, 4])
    rank(gold, labeler, [1, 2, 3, 4])
    rank(make_task(k=4), labeler, [1, 2, 3, 4])
    assert len(list(exports.export_rows("rankings", project))) == 1
    assert len(list(exports.export_rows("rankings", project, {"include_gold": True}))) == 2


@pytest.mark.parametrize("array_query", [True, False], ids=["array", "portable"])
def test_evaluation_rankings_only_when_asked(project, make_task, labeler, monkeypatch, array_query):
    """Humans judging policies must not become reward-model training data by default."""
    monkeypatch.setattr(exports, "USE_ARRAY_QUERY", array_query)
    evaluation = make_task(k=4, source=RankingTask.Source.EVALUATION)
    rank(evaluation, labeler, [1, 2, 3, 4])
    labeling = make_task(k=4)
    rank(labeling, labeler, [4, 3, 2, 1])
    for kind in ("comparisons", "rankings"):
        default = list(exports.export_rows(kind, project))
        assert {row["task_id"] for row in default} == {labeling.pk}, kind
        asked = list(exports.export_rows(kind, project, {"include_evaluation": True}))
        assert {row["task_id"] for row in asked} == {labeling.pk, evaluation.pk}, kind
    # consensus and agreement filtering read the same filtered rankings
    consensus = list(exports.export_rows("rankings", project, {"consensus": True}))
    assert [row["task_id"] for row in consensus] == [labeling.pk]


def test_split_filter(project, make_task, labeler):
    tasks = [make_task(k=4) for _ in range(4)]
    for task, split in zip(tasks, ["train", "train", "validation", "test"], strict=True):
        Prompt.objects.filter(pk=task.prompt_id).update(split=split)
        rank(task, labeler, [1, 2, 3, 4])
    rows = list(exports.export_rows("rankings", project, {"split": "train"}))
    assert len(rows) == 2 and {r["split"] for r in rows} == {"train"}
    assert [r["split"] for r in exports.export_rows("rankings", project)] == [
        "train", "train", "validation", "test"
    ]  # fmt: skip


def test_multi_turn_prompts_export_conversationally(project, make_task, labeler):
    task = make_task(k=4)
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell a joke"},
    ]
    Prompt.objects.filter(pk=task.prompt_id).update(messages=messages, text="")
    plain = make_task(k=4)
    rank(task, labeler, [1, 2, 3, 4])
    rank(plain, labeler, [1, 2, 3, 4])
    rows = list(exports.export_rows("comparisons", project))
    assert rows[0]["prompt"] == messages
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "Response 0 to prompt 1"}]
    # A text prompt in the same export becomes one user turn, so column types agree.
    assert rows[-1]["prompt"] == [{"role": "user", "content": plain.prompt.text}]


def test_demonstrations_accepted_unless_asked(project, labeler, make_task):
    from labeling.models import Demonstration

    task = make_task(k=4)
    Demonstration.objects.create(prompt=task.prompt, author=labeler, text="Good", status="accepted")
    Demonstration.objects.create(prompt=task.prompt, author=labeler, text="Meh")
    rows = list(exports.export_rows("demonstrations", project))
    assert rows == [
        {
            "prompt": task.prompt.text,
            "completion": "Good",
            "demonstration_id": rows[0]["demonstration_id"],
            "labeler": "lena",
            "split": task.prompt.split,
        }
    ]
    assert len(list(exports.export_rows("demonstrations", project, {"status": "all"}))) == 2
    (msg,) = exports.export_rows("demonstrations", project, {"style": "messages"})
    assert msg["messages"] == [
        {"role": "user", "content": task.prompt.text},
        {"role": "assistant", "content": "Good"},
    ]


def test_likert_items_do_not_change_rows(project, make_task, labeler):
    task = make_task(k=4)
    record_ranking(task, labeler, [ItemInput(rank=r, likert=r + 1) for r in (1, 2, 3, 4)])
    assert len(list(exports.export_rows("comparisons", project))) == 6


def test_consensus_and_min_agreement(project, make_task, labeler, other_labeler, reviewer):
    agree, split = make_task(k=4), make_task(k=4)
    for user in (labeler, other_labeler, reviewer):
        rank(agree, user, [1, 2, 3, 4])
    rank(split, labeler, [1, 2, 3, 4])
    rank(split, other_labeler, [4, 3, 2, 1])
    single = make_task(k=4)
    rank(single, labeler, [2, 1, 3, 4])
    rows = list(exports.export_rows("rankings", project, {"consensus": True}))
    assert [(r["task_id"], r["labeler"], r["ranking_id"]) for r in rows] == [
        (agree.pk, "consensus", None),
        (single.pk, "consensus", None),
    ]  # the split task's two opposite rankings cancel out: nothing to compare
    assert rows[0]["ranks"] == [1, 2, 3, 4] and rows[1]["ranks"] == [2, 1, 3, 4]
    pairs = list(exports.export_rows("comparisons", project, {"consensus": True}))
    assert len(pairs) == 12
    kept = list(exports.export_rows("rankings", project, {"min_agreement": 0.5}))
    # the disagreeing task is dropped; a single labeler's task has no evidence and stays
    assert sorted({r["task_id"] for r in kept}) == [agree.pk, single.pk]
    assert len(kept) == 4


def test_portable_query_gives_the_same_rows(
    project, make_task, labeler, other_labeler, monkeypatch
):
    """The item-level query (SQLite, the embedded default) agrees with PostgreSQL's arrays."""
    for ranks in ([1, 2, 3, 4], [2, 2, 1, 4], [4, 3, 2, 1]):
        task = make_task(k=4)
        rank(task, labeler, ranks)
        rank(task, other_labeler, list(reversed(ranks)))
    kinds = ("comparisons", "rankings")
    fast = {kind: list(exports.export_rows(kind, project)) for kind in kinds}
    fast["consensus"] = list(exports.export_rows("rankings", project, {"consensus": True}))
    monkeypatch.setattr(exports, "USE_ARRAY_QUERY", False)
    portable = {kind: list(exports.export_rows(kind, project)) for kind in kinds}
    portable["consensus"] = list(exports.export_rows("rankings", project, {"consensus": True}))
    assert portable == fast and len(fast["comparisons"]) == 2 * (6 + 5 + 6)
