"""The task service's own bounds, whoever builds the task (API, imports, generation)."""

import pytest

from labeling.intake.ranking_tasks import TaskError, set_gold

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("overlap", [0, 101, True])
def test_overlap_is_bounded_as_a_projects_is(make_task, overlap):
    from labeling.models import RankingTask

    with pytest.raises(TaskError) as refused:
        make_task(k=4, overlap=overlap)
    assert refused.value.field == "overlap" and not RankingTask.objects.exists()


def test_gold_reference_is_checked_as_at_creation(make_task):
    task = make_task(k=4)
    for bad in ([1, 1, 1, 1], [1, 2, 3], None):
        with pytest.raises(TaskError) as refused:
            set_gold(task, True, bad)
        assert refused.value.field == "gold_ranks"
    task.refresh_from_db()
    assert not task.is_gold
    set_gold(task, True, [2, 1, 4, 3])
    task.refresh_from_db()
    assert (task.is_gold, task.gold_ranks) == (True, [2, 1, 4, 3])
    set_gold(task, False, [9])
    task.refresh_from_db()
    assert (task.is_gold, task.gold_ranks) == (False, None)
