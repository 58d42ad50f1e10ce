import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from training.engine.config import config_from_dict, config_to_dict, parse_cli


@dataclass
class Inner:
    r: int = 8


@dataclass
class Example:
    model: str = "tiny"
    lr: float = 1e-4
    epochs: int = 2
    packing: bool = False
    reward_model: str | None = None
    targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    schedule: Literal["cosine", "linear"] = "cosine"
    out: Path = Path("out")
    inner: Inner = field(default_factory=Inner)


def test_from_dict_coerces_to_field_types():
    config = config_from_dict(
        Example,
        {
            "lr": "3e-4",
            "epochs": "4",
            "packing": "true",
            "targets": "a, b",
            "out": "x/y",
            "inner": {"r": "16"},
            "reward_model": None,
        },
    )
    assert config.lr == 3e-4 and config.epochs == 4 and config.packing is True
    assert config.targets == ["a", "b"] and config.out == Path("x/y") and config.inner.r == 16
    assert config.reward_model is None


def test_from_dict_unknown_key_names_it():
    with pytest.raises(ValueError, match="'lerning_rate'"):
        config_from_dict(Example, {"lerning_rate": 1})


@pytest.mark.parametrize(
    "data",
    [
        {"epochs": "2.5"},
        {"epochs": True},
        {"packing": "maybe"},
        {"schedule": "step"},
        {"lr": "fast"},
    ],
)
def test_from_dict_rejects_bad_values(data):
    with pytest.raises(ValueError, match=next(iter(data))):
        config_from_dict(Example, data)


def test_round_trip_through_json():
    config = Example(lr=0.5, targets=["x"])
    assert config_from_dict(Example, config_to_dict(config)) == config


def test_cli_file_then_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lr": 0.1, "epochs": 3, "reward_model": "rm"}))
    config = parse_cli(
        Example,
        [
            "--config",
            str(path),
            "--epochs",
            "5",
            "--packing",
            "--targets",
            '["a","b","c"]',
            "--reward-model=none",
            "--inner",
            '{"r": 2}',
        ],
    )
    assert config.lr == 0.1 and config.epochs == 5 and config.packing is True
    assert config.targets == ["a", "b", "c"] and config.reward_model is None and config.inner.r == 2
    assert parse_cli(Example, ["--packing", "false"]).packing is False


def test_cli_unknown_key_fails():
    with pytest.raises(ValueError, match="nope"):
        parse_cli(Example, ["--nope", "1"])
