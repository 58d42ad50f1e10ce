"""train_ppo under `accelerate launch` with 2 CPU processes (gloo), PPO-ptx included.

Each process samples its own rollouts (seeded per process) and DDP averages the gradients of
the PPO epochs, so the processes see different data yet must end with the same policy and
value model, the one the main process saves. The worker watches, without changing them, the
models train_ppo builds and the rollouts it samples. ~40 s on 2 shared cores.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.engine.reward import RewardConfig, train_reward
from training.engine.synthetic import prompt_for, synthetic_rankings

from .test_reward_distributed import free_port, one_thread  # noqa: F401  (fixture)

WORKER = """
import json, math, sys
from accelerate import PartialState
from training.engine import ppo

built, samples = {}, []
load_causal_lm, load_reward_model, rollout = ppo.load_causal_lm, ppo.load_reward_model, ppo.rollout

def watch(name, load):
    def wrapper(*args, **kwargs):
        model = load(*args, **kwargs)
        built.setdefault(name, model)  # the first one built: the policy / the value model
        return model
    return wrapper

def watched_rollout(*args, **kwargs):
    result = rollout(*args, **kwargs)
    samples.append(result.responses.tolist())
    return result

ppo.load_causal_lm = watch("policy", load_causal_lm)
ppo.load_reward_model = watch("value", load_reward_model)
ppo.rollout = watched_rollout

config, prompts, pretrain = json.loads(open(sys.argv[1]).read())
history = []
result = ppo.train_ppo(ppo.PPOConfig(**config), prompts, pretrain,
                       callback=lambda s, t, m: history.append(m))
state = PartialState()
weights = {
    name: [float(p.detach().double().sum()) for p in model.parameters()]
    for name, model in built.items()
}
record = {"world": state.num_processes, "backend": state.backend, "history": history,
          "weights": weights, "samples": samples, **result}
open(f"{sys.argv[2]}/rank{state.process_index}.json", "w").write(json.dumps(record))
"""


@pytest.mark.training
def test_two_gloo_processes_sample_apart_and_stay_in_step(tiny_model_path, tmp_path):
    rm = train_reward(
        RewardConfig(
            model=str(tiny_model_path),
            output_dir=str(tmp_path / "rm"),
            lr=1e-3,
            max_length=48,
            device="cpu",
        ),
        synthetic_rankings(16, 4, seed=0),
        synthetic_rankings(4, 4, seed=1),
    )
    rng = random.Random(0)
    prompts = [prompt_for(rng) for _ in range(32)]
    pretrain = ["The cat sat on the mat and looked at the rain."] * 8
    config = dict(
        policy=str(tiny_model_path),
        reward_model=rm["output_dir"],
        output_dir=str(tmp_path / "ppo"),
        steps=3,
        rollouts_per_step=8,
        mini_batch_size=4,
        ppo_epochs=2,
        response_length=8,
        lr=5e-4,
        kl_coef=0.1,
        ptx_coef=1.0,
        ptx_batch_size=2,
        seed=0,
        save_every=1,  # state saved after steps 1 and 2 under DDP: every process must agree
        # no device="cpu": a launch of several processes with no GPU must still form a group
    )
    job = tmp_path / "job.json"
    job.write_text(json.dumps([config, prompts, pretrain]))
    (tmp_path / "worker.py").write_text(WORKER)
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    # as in test_reward_distributed: --multi_gpu with no GPU visible = a gloo group on the CPU
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        str(tmp_path / "worker.py"), str(job), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    first, second = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    for rec in (first, second):
        assert rec["world"] == 2 and rec["backend"] == "gloo"
        assert rec["steps"] == 3 and len(rec["history"]) == 3 and rec["resumed_from_step"] == 0
        assert "ptx/loss" in rec["history"][-1]
        for metrics in rec["history"]:
            assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    # each process sampled its own rollouts ...
    assert first["samples"][0] != second["samples"][0]
    # ... the logged metrics are the mean over both (the same on each, timing aside) ...
    for a, b in zip(first["history"], second["history"], strict=True):
        a, b = dict(a), dict(b)
        a.pop("time/step_s"), b.pop("time/step_s")
        assert a == pytest.approx(b, rel=1e-6)
    # ... and DDP kept the trained models identical, away from where they started
    for name in ("policy", "value"):
        assert first["weights"][name] == pytest.approx(
            second["weights"][name], rel=1e-6, abs=1e-6
        ), name
    from training.engine.base_model import load_causal_lm

    start = [
        float(p.detach().double().sum()) for p in load_causal_lm(str(tiny_model_path)).parameters()
    ]
    saved = load_causal_lm(first["output_dir"])  # written by the main process only
    assert not (Path(first["output_dir"]) / "state").exists()
    assert [float(p.detach().double().sum()) for p in saved.parameters()] == pytest.approx(
        first["weights"]["policy"], rel=1e-6
    )
    assert first["weights"]["policy"] != pytest.approx(start, rel=1e-6)
