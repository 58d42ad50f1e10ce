import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import RankingTask

from .importing import run, write_jsonl

pytestmark = pytest.mark.django_db


def _responses(tmp_path, per_prompt):
    rows = [
        {"prompt": f"Prompt {p}", "response": f"Answer {i} to {p}", "model": "m"}
        for p, n in enumerate(per_prompt)
        for i in range(n)
    ]
    run("import_responses", write_jsonl(tmp_path / "r.jsonl", rows))


def test_builds_tasks_with_random_subset(tmp_path):
    _responses(tmp_path, [3, 4, 6, 12])
    call_command("create_tasks", "--project", "imp", "--k", "4..9", "--seed", "1")
    tasks = {t.prompt.text: t for t in RankingTask.objects.all()}
    assert set(tasks) == {"Prompt 1", "Prompt 2", "Prompt 3"}  # prompt 0 has too few
    assert tasks["Prompt 3"].k == 9 and tasks["Prompt 2"].k == 6
    positions = list(tasks["Prompt 3"].task_responses.values_list("position", flat=True))
    assert positions == list(range(9))
    assert all(
        r.prompt_id == tasks["Prompt 3"].prompt_id for r in tasks["Prompt 3"].responses.all()
    )
    # Running again does not task the same prompts twice.
    call_command("create_tasks", "--project", "imp", "--k", "4..9")
    assert RankingTask.objects.count() == 3


def test_k_outside_project_range_is_refused(tmp_path):
    _responses(tmp_path, [4])
    with pytest.raises(CommandError, match="outside the project's range 4..9"):
        call_command("create_tasks", "--project", "imp", "--k", "2..9")
    with pytest.raises(CommandError, match="--project: no project"):
        call_command("create_tasks", "--project", "nope")
