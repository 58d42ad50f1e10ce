"""Which config class and entry point each job kind uses, by dotted name.

The web side validates a job's config with `config_class(kind)` without importing torch (the
config modules are torch-free); the worker, or a launcher under `accelerate launch`, runs it
with `entry_point(kind)(config, ..., callback=...)`, which imports the training stack.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

CONFIGS = {
    "sft": "training.engine.sft_config:SFTConfig",
    "rm": "training.engine.reward_config:RewardConfig",
    "ppo": "training.engine.ppo_config:PPOConfig",
    "generate": "training.engine.generate_config:GenerateConfig",
    "evaluate": "training.engine.evaluate_config:EvaluateConfig",
    "dpo": "training.engine.dpo_config:DPOConfig",
    "best_of_n": "training.engine.best_of_n_config:BestOfNConfig",
}
ENTRIES = {
    "sft": "training.engine.sft:train_sft",
    "rm": "training.engine.reward:train_reward",
    "ppo": "training.engine.ppo:train_ppo",
    "generate": "training.engine.generate:generate_responses",
    "evaluate": "training.engine.evaluate:evaluate_policy",
    "dpo": "training.engine.dpo:train_dpo",
    "best_of_n": "training.engine.best_of_n:best_of_n",
}


def config_class(kind: str) -> type:
    """The config dataclass of `kind` (no torch import)."""
    return _load(CONFIGS, kind)


def entry_point(kind: str) -> Callable:
    """The engine function of `kind` (imports torch and transformers)."""
    return _load(ENTRIES, kind)


def _load(table: dict[str, str], kind: str):
    if kind not in table:
        raise ValueError(f"kind: {kind!r} is not one of {sorted(table)}")
    module, _, name = table[kind].partition(":")
    return getattr(importlib.import_module(module), name)
