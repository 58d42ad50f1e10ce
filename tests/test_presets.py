"""Job size presets and how a pipeline fills its stages' configs from them."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipelines import service
from pipelines.models import Pipeline
from training import presets


def test_a_given_value_wins_over_the_preset():
    config = presets.sized("quick", "ppo", {"steps": 3})
    assert config["steps"] == 3
    assert config["response_length"] == presets.PRESETS["quick"]["ppo"]["response_length"]
    assert presets.sized("full", "ppo", {"steps": 3}) == {"steps": 3}


def test_the_preset_is_not_changed_by_a_job_config():
    presets.sized("quick", "ppo")["steps"] = 99
    assert presets.PRESETS["quick"]["ppo"]["steps"] != 99


def test_the_default_follows_the_machine():
    import torch

    assert presets.default_preset() == ("full" if torch.cuda.is_available() else "quick")


def test_a_pipeline_keeps_the_filled_in_configs(project):
    pipeline = service.start_pipeline(
        project, preset="quick", config={"ppo": {"steps": 2}, "rm": {"lr": 1e-3}}
    )
    assert pipeline.config["preset"] == "quick"
    assert pipeline.config["ppo"]["steps"] == 2
    assert pipeline.config["ppo"]["ppo_epochs"] == presets.PRESETS["quick"]["ppo"]["ppo_epochs"]
    assert pipeline.config["generate"]["max_new_tokens"] == 64
    assert pipeline.config["rm"] == {"lr": 1e-3}


def test_the_config_file_may_name_the_preset(project):
    pipeline = service.start_pipeline(project, config={"preset": "full"})
    assert pipeline.config["ppo"] == {}
    assert pipeline.config["preset"] == "full"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"preset": "huge"}, "preset"),
        ({"config": {"preset": "huge"}}, "preset"),
        ({"config": {"ppo": [1, 2]}}, "config"),
    ],
)
def test_a_bad_preset_or_stage_config_is_refused_by_field(project, kwargs, field):
    with pytest.raises(service.PipelineError) as refused:
        service.start_pipeline(project, **kwargs)
    assert refused.value.field == field
    assert not Pipeline.objects.exists()


def test_run_pipeline_takes_the_preset(project):
    # the project has no demonstrations: SFT is refused at once, after the pipeline started
    with pytest.raises(CommandError, match="no demonstrations"):
        call_command(
            "run_pipeline", "--project", project.slug, "--preset", "full", "--timeout", "0.01"
        )
    assert Pipeline.objects.get().config["preset"] == "full"
