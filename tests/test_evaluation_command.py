"""manage.py evaluation create|show: the service's rules, a refusal as a command error."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluations.models import Campaign

from .evaluation_world import STRONG, WEAK, answered_prompts


def test_create_then_show(project, capsys, django_capture_on_commit_callbacks):
    answered_prompts(project, 3)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "evaluation", "create", "--project", project.slug, "--name", "cli",
            "--contestant", f"model:{STRONG}", "--contestant", f"model:{WEAK}", "--overlap", "2",
        )  # fmt: skip
    assert "campaign cli (pairwise, 3 prompts): generating" in capsys.readouterr().out
    campaign = Campaign.objects.get(name="cli")
    assert campaign.overlap == 2
    call_command("evaluation", "show", "--project", project.slug, "--campaign", "cli", "--json")
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "open" and shown["tasks"] == 3 and shown["missing"] == 6
    assert [c["name"] for c in shown["contestants"]] == [STRONG, WEAK]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--contestant", f"model:{STRONG}"], "contestants: from 2 to 9"),
        (["--contestant", "gpt", "--contestant", f"model:{WEAK}"], "checkpoint:ID or model:NAME"),
        (
            ["--contestant", f"model:{STRONG}", "--contestant", f"model:{WEAK}", "--split", "x"],
            "split",
        ),
    ],
)
def test_a_refusal_is_a_command_error(project, arguments, message):
    answered_prompts(project, 2)
    with pytest.raises(CommandError, match=message):
        call_command("evaluation", "create", "--project", project.slug, "--name", "c", *arguments)
    assert not Campaign.objects.exists()


def test_show_names_a_missing_campaign(project):
    with pytest.raises(CommandError, match="--campaign"):
        call_command("evaluation", "show", "--project", project.slug, "--campaign", "nope")
