"""manage.py snapshot KIND --project SLUG [export options]: freeze an export from the shell."""

# ruff: noqa: F811 -- pytest fixtures from tests/api_world.py are imported, then requested by name

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from training.models import DatasetSnapshot
from training.snapshots import create_snapshot

from .api_world import fast_passwords  # noqa: F401
from .exporting import rank

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(settings, tmp_path):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"


def snapshot(*args) -> str:
    out = StringIO()
    call_command("snapshot", *args, stdout=out)
    return out.getvalue()


def test_prints_hash_rows_and_path(artifacts, project, make_task, labeler):
    rank(make_task(k=4), labeler, [1, 2, 3, 4])
    out = snapshot("rankings", "--project", "campaign")
    frozen = DatasetSnapshot.objects.get()
    assert frozen.kind == "rankings" and frozen.n_rows == 1
    assert out.strip() == f"snapshot {frozen.content_hash} rows: 1 path: {frozen.path}"


def test_flags_are_the_export_options(artifacts, project, make_task, labeler, other_labeler):
    task = make_task(k=4)
    rank(task, labeler, [1, 2, 3, 4])
    rank(task, other_labeler, [1, 2, 4, 3])
    split = task.prompt.split
    snapshot("comparisons", "--project", "campaign", "--consensus", "--split", split,
             "--min-agreement", "0.5", "--no-conversational")  # fmt: skip
    frozen = DatasetSnapshot.objects.get()
    assert frozen.options == {
        "split": split,
        "conversational": False,
        "consensus": True,
        "min_agreement": 0.5,
        "include_gold": False,
        "include_evaluation": False,
        "include_ai": False,
    }
    # the same options through the service freeze the same snapshot
    same = {"consensus": True, "split": split, "min_agreement": 0.5}
    assert create_snapshot(project, "comparisons", same).pk == frozen.pk
    snapshot("demonstrations", "--project", "campaign", "--status", "all", "--style", "messages")
    demos = DatasetSnapshot.objects.get(kind="demonstrations")
    assert (demos.options["status"], demos.options["style"]) == ("all", "messages")


def test_errors_name_the_option(artifacts, project):
    with pytest.raises(CommandError, match="^project: no project 'nope'"):
        snapshot("rankings", "--project", "nope")
    with pytest.raises(CommandError, match="^min_agreement: must lie in 0..1"):
        snapshot("rankings", "--project", "campaign", "--min-agreement", "2")
    # each kind takes only its own options
    with pytest.raises(CommandError, match="--consensus"):
        snapshot("demonstrations", "--project", "campaign", "--consensus")
    assert DatasetSnapshot.objects.count() == 0
