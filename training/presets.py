"""Job sizes: the config values that decide what a job costs, per kind, for two machines.

The engine's defaults are InstructGPT's shapes and suit a GPU: 256-token samples, 100 PPO
steps of 16 rollouts, 4 PPO epochs. On a laptop CPU the demo model (SmolLM2-135M) then takes
about 4 minutes per PPO step, and one loop takes hours. ``quick`` keeps every stage real (the
same code, losses and data) and makes it small: shorter samples, fewer and smaller PPO steps.
``full`` is the engine's defaults. A value given in a job's own config always wins.

Measured on 2 CPU cores with SmolLM2-135M on the demo project (docs/pipelines.md): the whole
loop (SFT → generate → rank → RM → PPO → evaluate) takes minutes with ``quick``.
"""

from copy import deepcopy

QUICK = "quick"
FULL = "full"

PRESETS: dict[str, dict[str, dict]] = {
    QUICK: {
        "sft": {},
        # 64 new tokens are two or three sentences: enough for a labeler to judge
        "generate": {"max_new_tokens": 64},
        "rm": {},
        "ppo": {
            "steps": 8,
            "rollouts_per_step": 8,
            "mini_batch_size": 4,
            "ppo_epochs": 2,
            "response_length": 32,
        },
        "evaluate": {"max_new_tokens": 64},
        # a prompt and one response: what the quick samples (64 new tokens) need
        "dpo": {"max_length": 256},
        "best_of_n": {"n": 4, "max_new_tokens": 64},
    },
    FULL: {},
}
NAMES = tuple(PRESETS)


def default_preset() -> str:
    """``full`` where a GPU is, ``quick`` on the CPU."""
    import torch

    return FULL if torch.cuda.is_available() else QUICK


def sized(preset: str, kind: str, config: dict | None = None) -> dict:
    """``config`` over the preset's values for a job of ``kind``."""
    if preset not in PRESETS:
        raise KeyError(preset)
    return deepcopy(PRESETS[preset].get(kind, {})) | dict(config or {})
