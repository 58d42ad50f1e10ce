"""train_reward under `accelerate launch` with 2 CPU processes (gloo) follows the 1-process run.

Each optimizer step's rankings are split between the processes and DDP averages the gradients,
with the loss scaled so the average is the gradient of the mean over all the step's rankings: the
same update a single process makes, up to float summation order. ~35 s on 2 shared cores.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.engine.reward import RewardConfig, train_reward
from training.engine.synthetic import synthetic_rankings

WORKER = """
import json, sys
from accelerate import PartialState
from training.engine.reward import RewardConfig, train_reward

config, train, held_out = json.loads(open(sys.argv[1]).read())
losses = []
result = train_reward(
    RewardConfig(**config), train, held_out,
    callback=lambda s, t, m: "train/loss" in m and losses.append(m["train/loss"]),
)
state = PartialState()
record = {"world": state.num_processes, "backend": state.backend, "losses": losses, **result}
open(f"{sys.argv[2]}/rank{state.process_index}.json", "w").write(json.dumps(record))
"""


@pytest.fixture(autouse=True)
def one_thread():
    """One thread per process, as the launched processes get (OMP_NUM_THREADS=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.training
def test_two_gloo_processes_match_one_process(tiny_model_path, tmp_path):
    train = synthetic_rankings(48, 4, seed=0, ties=True)  # 6 steps of 8 rankings, 4 per process
    held_out = synthetic_rankings(25, 4, seed=1)  # odd: the processes score 13 and 12
    config = dict(
        model=str(tiny_model_path),
        lr=1e-3,
        warmup_steps=3,
        rankings_per_batch=8,
        max_length=64,
        device="cpu",
        save_every=2,  # state under DDP too: the main process writes it, all agree on when
    )

    single_losses = []
    single = train_reward(
        RewardConfig(**config, output_dir=str(tmp_path / "one")),
        train,
        held_out,
        callback=lambda s, t, m: "train/loss" in m and single_losses.append(m["train/loss"]),
    )

    job = tmp_path / "job.json"
    job.write_text(json.dumps([config | {"output_dir": str(tmp_path / "two")}, train, held_out]))
    (tmp_path / "worker.py").write_text(WORKER)
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {
        "PYTHONPATH": str(root),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",  # gloo on CPU even on a GPU machine
    }
    # `--cpu --num_processes 2` would need MPI (accelerate launches several CPU processes only
    # through mpirun); `--multi_gpu` starts them with torchrun, and with no GPU visible each
    # process joins a gloo group on the CPU
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(tmp_path / "worker.py"),
        str(job),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rec in records:
        assert rec["world"] == 2 and rec["backend"] == "gloo"
        assert rec["steps"] == single["steps"] == 6 and rec["resumed_from_step"] == 0
        # the same trajectory: losses are the mean over all 8 rankings of each step
        assert rec["losses"] == pytest.approx(single_losses, rel=1e-4, abs=1e-5)
        for key in ("eval/accuracy", "eval/pairs", "eval/margin", "reward_bias"):
            assert rec["metrics"][key] == pytest.approx(
                single["metrics"][key], rel=1e-4, abs=1e-5
            ), key
    assert not (tmp_path / "two" / "state").exists()
    # only the main process saved, and it saved the same model
    from safetensors.torch import load_file

    one = load_file(tmp_path / "one" / "model.safetensors")
    two = load_file(tmp_path / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    for name, weight in one.items():
        assert torch.allclose(weight, two[name], atol=1e-5), name
