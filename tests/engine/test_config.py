import json
import os
import re
import subprocess
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from training.engine import registry
from training.engine.config import (
    LORA_TARGET_MODULES,
    check,
    coerce,
    config_from_dict,
    config_to_dict,
    parse_cli,
)
from training.engine.generate_config import GenerateConfig
from training.engine.ppo_config import PPOConfig
from training.engine.reward_config import RewardConfig
from training.engine.sft_config import SFTConfig


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


# --- the engine's configs: torch-free, validated ---------------------------------------------


def test_registry_builds_every_config_without_torch():
    # the web side validates job configs in a process that must not pay for (or need) torch
    code = """
import json, sys
from training.engine.config import config_from_dict
from training.engine.registry import CONFIGS, config_class
for kind in CONFIGS:
    # best-of-n cannot be built without the reward model that picks its samples
    needed = {"reward_model": "rm"} if kind == "best_of_n" else {}
    config = config_from_dict(config_class(kind), {"seed": "3", "save_every": "5"} | needed)
    assert (config.seed, config.save_every, config.save_every_minutes) == (3, 5, 10.0), kind
print(json.dumps([m for m in ("torch", "transformers", "accelerate") if m in sys.modules]))
"""
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_registry_entry_points_and_re_exports():
    from training.engine import generate, ppo, reward, sft

    assert registry.entry_point("sft") is sft.train_sft
    assert registry.entry_point("rm") is reward.train_reward
    assert registry.entry_point("ppo") is ppo.train_ppo
    assert registry.entry_point("generate") is generate.generate_responses
    # the engine modules re-export their config: older imports keep working
    assert sft.SFTConfig is registry.config_class("sft") is SFTConfig
    assert reward.RewardConfig is registry.config_class("rm") is RewardConfig
    assert ppo.PPOConfig is registry.config_class("ppo") is PPOConfig
    assert generate.GenerateConfig is registry.config_class("generate") is GenerateConfig
    assert registry.config_class("dpo").__name__ == "DPOConfig"
    assert registry.config_class("best_of_n").__name__ == "BestOfNConfig"
    with pytest.raises(ValueError, match="'bogus'"):
        registry.config_class("bogus")


def test_lora_defaults_are_one_list():
    from training.engine.base_model import LoraSettings

    assert LoraSettings().target_modules == list(LORA_TARGET_MODULES)
    assert SFTConfig().lora_target_modules == RewardConfig().lora_target_modules
    assert SFTConfig().lora_target_modules == list(LORA_TARGET_MODULES)
    assert SFTConfig().lora_target_modules is not SFTConfig().lora_target_modules  # not shared


@pytest.mark.parametrize(
    "cls, data, message",
    [
        (SFTConfig, {"learning_rate": -1}, "learning_rate: must be > 0, got -1.0"),
        (SFTConfig, {"epochs": 0}, "epochs: must be >= 1, got 0"),
        (SFTConfig, {"max_steps": -1}, "max_steps: must be >= 0, got -1"),
        (SFTConfig, {"warmup_ratio": 1}, "warmup_ratio: must be in [0, 1), got 1.0"),
        (SFTConfig, {"save_every": -5}, "save_every: must be >= 0, got -5"),
        (SFTConfig, {"adam_betas": "0.9,1.0"}, "adam_betas: must be two numbers in [0, 1)"),
        (RewardConfig, {"lr": 0}, "lr: must be > 0, got 0.0"),
        (RewardConfig, {"rankings_per_batch": 0}, "rankings_per_batch: must be >= 1, got 0"),
        (RewardConfig, {"min_lr_ratio": 1.5}, "min_lr_ratio: must be in [0, 1], got 1.5"),
        (RewardConfig, {"save_every_minutes": -1}, "save_every_minutes: must be >= 0, got -1.0"),
        (PPOConfig, {"lam": 1.5}, "lam: must be in [0, 1], got 1.5"),
        (PPOConfig, {"gamma": -0.1}, "gamma: must be in [0, 1], got -0.1"),
        (PPOConfig, {"cliprange": 0}, "cliprange: must be > 0, got 0.0"),
        (PPOConfig, {"kl_coef": -0.1}, "kl_coef: must be >= 0, got -0.1"),
        (PPOConfig, {"lr": "nan"}, "lr: must be > 0, got nan"),
        (
            PPOConfig,
            {"rollouts_per_step": 16, "mini_batch_size": 5},
            "mini_batch_size: must divide rollouts_per_step (16), got 5",
        ),
        (GenerateConfig, {"top_p": 0}, "top_p: must be in (0, 1], got 0.0"),
        (GenerateConfig, {"temperature": -1}, "temperature: must be >= 0, got -1.0"),
        (GenerateConfig, {"k": 0}, "k: must be >= 1, got 0"),
        (GenerateConfig, {"max_new_tokens": 0}, "max_new_tokens: must be >= 1, got 0"),
    ],
)
def test_impossible_values_are_refused_naming_the_field(cls, data, message):
    with pytest.raises(ValueError) as raised:
        config_from_dict(cls, data)
    assert str(raised.value).startswith(message)
    # built directly (as the engines' callers in Python do), with values of the field types
    hints = typing.get_type_hints(cls)
    typed = {key: coerce(hints[key], value, key) for key, value in data.items()}
    with pytest.raises(ValueError, match=f"^{message.split(':')[0]}: "):
        cls(**typed)


def test_documented_zeros_and_defaults_are_accepted():
    for cls in (SFTConfig, RewardConfig, PPOConfig, GenerateConfig):
        config = cls()  # the defaults are valid
        assert (config.save_every, config.save_every_minutes) == (100, 10.0)  # saved by default
        cls(save_every=0, save_every_minutes=0)  # 0 = never by count / by time
    SFTConfig(max_steps=0, eval_every=0, max_grad_norm=0, warmup_ratio=0)
    RewardConfig(eval_every=0, warmup_steps=0, min_lr_ratio=1)
    PPOConfig(kl_coef=0, gamma=0, lam=1, ptx_coef=0, missing_eos_penalty=0)
    GenerateConfig(temperature=0, top_p=1)  # greedy


@pytest.mark.parametrize(
    "value, rule, ok",
    [
        (0, "> 0", False),
        (1e-9, "> 0", True),
        (0, ">= 0", True),
        (0, "in [0, 1)", True),
        (1, "in [0, 1)", False),
        (0, "in (0, 1]", False),
        (1, "in (0, 1]", True),
        (2, "< 2", False),
        (2, "<= 2", True),
    ],
)
def test_check_reads_its_rules(value, rule, ok):
    config = Example(lr=value)
    if ok:
        check(config, lr=rule)
    else:
        with pytest.raises(ValueError, match=re.escape(f"lr: must be {rule}, got {value!r}")):
            check(config, lr=rule)
