"""training/snapshots.py: frozen, content-hashed exports."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

import pytest

from training.models import DatasetSnapshot
from training.snapshots import create_snapshot, data_path, snapshot_rows, verify_snapshot

from .api_world import fast_passwords  # noqa: F401
from .exporting import rank

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.PREFLAB_ARTIFACTS_DIR


def test_same_state_same_snapshot_and_bytes(artifacts, project, make_task, labeler):
    for _ in range(3):
        rank(make_task(k=5), labeler, [1, 2, 3, 3, 5])
    first = create_snapshot(project, "comparisons")
    data = data_path(first).read_bytes()
    assert first.n_rows == 3 * 9 and verify_snapshot(first)
    assert list(snapshot_rows(first))[0]["labeler"] == "lena"
    assert str(first.path).startswith(str(artifacts / "snapshots"))
    again = create_snapshot(project, "comparisons")
    assert again.pk == first.pk and data_path(again).read_bytes() == data
    assert DatasetSnapshot.objects.count() == 1


def test_new_rankings_or_options_give_a_new_snapshot(artifacts, project, make_task, labeler):
    task = make_task(k=4)
    rank(task, labeler, [1, 2, 3, 4])
    first = create_snapshot(project, "rankings")
    rank(make_task(k=4), labeler, [4, 3, 2, 1])
    second = create_snapshot(project, "rankings")
    by_split = create_snapshot(project, "rankings", {"split": task.prompt.split})
    assert len({first.content_hash, second.content_hash, by_split.content_hash}) == 3
    assert (first.n_rows, second.n_rows) == (1, 2)
    # the first snapshot is still there, unchanged, after the data moved on
    assert verify_snapshot(first)
    assert second.options["split"] is None and by_split.options["split"] == task.prompt.split


def test_tampering_is_detected(artifacts, project, make_task, labeler):
    rank(make_task(k=4), labeler, [1, 2, 3, 4])
    snapshot = create_snapshot(project, "comparisons")
    path = data_path(snapshot)
    path.chmod(0o644)
    path.write_text("{}\n")
    assert not verify_snapshot(snapshot)


def test_manifest_options_are_the_kinds_own_resolved(artifacts, project, make_task, labeler):
    """A manifest holds exactly the kind's options, all resolved: the same set of keys as
    before options became a dataclass, so a snapshot frozen again keeps its hash."""
    rank(make_task(k=4), labeler, [1, 2, 3, 4])
    pairs = create_snapshot(project, "comparisons", {"min_agreement": 1})
    assert pairs.options == {
        "split": None,
        "conversational": False,
        "consensus": False,
        "min_agreement": 1.0,
        "include_gold": False,
        "include_evaluation": False,
        "include_ai": False,
    }
    demonstrations = create_snapshot(project, "demonstrations")
    assert demonstrations.options == {
        "split": None,
        "conversational": False,
        "status": "accepted",
        "style": "prompt_completion",
    }
    # options given as a dict or as the dataclass freeze the same snapshot
    from labeling.outputs.options import RankingExportOptions

    again = create_snapshot(project, "comparisons", RankingExportOptions(min_agreement=1.0))
    assert again.pk == pairs.pk


def test_bad_option_writes_nothing(artifacts, project):
    from labeling.errors import ServiceError
    from labeling.outputs.options import ExportError

    with pytest.raises(ExportError, match="^split:") as raised:
        create_snapshot(project, "comparisons", {"split": "dev"})
    assert isinstance(raised.value, ServiceError) and raised.value.field == "split"
    assert DatasetSnapshot.objects.count() == 0
