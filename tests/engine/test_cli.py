"""The engine's one command-line convention: every `python -m training.engine.<module>` reads
`--config file.json`, then `--key value` overrides, into its config dataclass (`parse_cli`)."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.engine.config import parse_cli
from training.engine.reward_config import RewardConfig
from training.engine.synthetic import synthetic_rankings

ROOT = Path(__file__).resolve().parents[2]

ENTRY_POINTS = {
    "sft": "SFTConfig",
    "reward": "RewardConfig",
    "ppo": "PPOConfig",
    "generate": "GenerateConfig",
    "evaluate": "EvaluateConfig",
    "launch": "LaunchConfig",
    "tiny": "TinyConfig",
    "base_model": "BaseModelConfig",
}


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_every_entry_point_lists_its_dataclass_options(module, capsys):
    main = importlib.import_module(f"training.engine.{module}").main
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"options for {ENTRY_POINTS[module]} (--config file.json")


def test_required_keys_are_named():
    from training.engine.tiny import TinyConfig

    with pytest.raises(ValueError, match="--output_dir is required"):
        parse_cli(TinyConfig, ["--n_layer", "1"])  # a field without a default
    with pytest.raises(ValueError, match="--train_file is required"):
        parse_cli(RewardConfig, ["--lr", "0.1"], required=("train_file",))  # a CLI-only field
    config = parse_cli(RewardConfig, ["--train_file", "x.jsonl"], required=("train_file",))
    assert config.train_file == "x.jsonl"


def test_tiny_and_base_model_command_lines(tmp_path, capsys):
    from training.engine import base_model, tiny

    tiny.main(["--output_dir", str(tmp_path / "m"), "--n_layer", "1", "--hidden_size", "32"])
    built = Path(capsys.readouterr().out.strip())
    assert built == tmp_path / "m" and (built / "config.json").exists()
    assert json.loads((built / "config.json").read_text())["num_hidden_layers"] == 1
    base_model.main(["--model", str(built)])
    assert capsys.readouterr().out.strip() == str(built)
    with pytest.raises(ValueError, match="n_head: must divide"):
        parse_cli(tiny.TinyConfig, ["--output_dir", "x", "--hidden_size", "30", "--n_head", "4"])


def jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def progress_lines(out: str) -> list[dict]:
    """The JSON objects printed one a line (the final result is printed indented, over lines)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"step"')]


@pytest.mark.training
def test_reward_then_ppo_command_lines(tiny_model_path, tmp_path, capsys):
    from training.engine import ppo, reward

    config = tmp_path / "rm.json"
    config.write_text(json.dumps({"lr": 1e-3, "max_length": 48, "rankings_per_batch": 4}))
    reward.main(
        [
            "--config", str(config),
            "--model", str(tiny_model_path),
            "--output_dir", str(tmp_path / "rm"),
            "--train_file", str(jsonl(tmp_path / "train.jsonl", synthetic_rankings(8, 3))),
            "--eval_file", str(jsonl(tmp_path / "eval.jsonl", synthetic_rankings(4, 3, seed=1))),
            "--device", "cpu",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert [line["step"] for line in progress_lines(out)] == [1, 2, 2]  # + the final eval
    assert (tmp_path / "rm" / "reward_model.json").exists()

    prompts = jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Hi"}, "Tell me a story."])
    pretrain = jsonl(tmp_path / "pretrain.jsonl", [{"text": "The cat sat on the mat."}])
    ppo.main(
        [
            "--policy", str(tiny_model_path),
            "--reward_model", str(tmp_path / "rm"),
            "--output_dir", str(tmp_path / "ppo"),
            "--prompts_file", str(prompts),
            "--pretrain_file", str(pretrain),
            "--steps", "1", "--rollouts_per_step", "2", "--mini_batch_size", "2",
            "--ppo_epochs", "1", "--response_length", "4", "--ptx_batch_size", "1",
            "--device", "cpu",
        ]
    )  # fmt: skip
    lines = progress_lines(capsys.readouterr().out)
    assert [line["step"] for line in lines] == [1] and "ptx/loss" in lines[0]
    assert (tmp_path / "ppo" / "config.json").exists()


@pytest.mark.training
def test_launch_runs_a_spec(tiny_model_path, tmp_path, capsys):
    from training.engine import launch

    (tmp_path / "prompts.json").write_text(json.dumps(["Hi", "Tell me a story."]))
    spec = {
        "kind": "generate",
        "config": {"model": str(tiny_model_path), "k": 2, "max_new_tokens": 3, "batch_size": 1},
        "inputs": {"prompts": "prompts.json"},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    launch.main(["--spec", str(tmp_path / "spec.json")])
    events = [
        json.loads(line[len(launch.EVENT_PREFIX) :])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(launch.EVENT_PREFIX)
    ]
    assert [e["event"] for e in events] == ["progress", "progress", "progress", "result"]
    assert [row["prompt"] for row in events[-1]["result"]] == ["Hi", "Hi"] + [
        "Tell me a story."
    ] * 2


def test_the_worker_launches_with_the_same_convention(tmp_path):
    from training.launcher import launch_command

    command = launch_command(2, None, tmp_path)
    assert command[-4:] == ["-m", "training.engine.launch", "--spec", str(tmp_path / "spec.json")]


def test_the_web_side_imports_no_torch(tmp_path):
    """What the web process imports to create, validate and launch jobs (training.jobs, the
    launcher, the config modules, the registry, the engine's small command lines) loads no
    torch: a config module that imported it would cost every web worker its memory and start-up
    time."""
    code = """
import sys, django
django.setup()
import training.jobs, training.launcher
import training.engine.config, training.engine.registry, training.engine.progress
import training.engine.launch, training.engine.tiny, training.engine.base_model
from training.engine.registry import CONFIGS, config_class
for kind in CONFIGS:
    config_class(kind)
print(sorted(m for m in ("torch", "transformers", "accelerate") if m in sys.modules))
"""
    env = dict(
        os.environ,
        PREFLAB_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="preflab.settings",
        PYTHONPATH=str(ROOT),
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]"]
