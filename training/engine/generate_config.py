"""GenerateConfig: sampling K responses per prompt (training/engine/generate.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.engine.config import check

# What a model without sampling settings of its own is sampled with: the usual chat defaults,
# which keep a small model's text readable while K samples still differ.
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.9
SAMPLING_KEYS = ("temperature", "top_p", "top_k")


@dataclass
class GenerateConfig:
    model: str = "smollm2-135m-instruct"  # checkpoint folder, "tiny", the demo model or a hub id
    model_name: str | None = None  # the "model" column of the rows; default: `model`
    k: int = 4  # responses per prompt (InstructGPT ranked 4 to 9)
    # Sampling. None = the model's own generation_config when it sets the value, else
    # DEFAULT_TEMPERATURE / DEFAULT_TOP_P / no top-k (`resolve_sampling`): sampling a 135M
    # model at temperature 1 with the whole distribution gives unreadable text. An explicit
    # value always wins.
    temperature: float | None = None  # 0 = greedy (then all K responses are the same)
    top_p: float | None = None  # nucleus sampling; 1.0 keeps the whole distribution
    top_k: int | None = None  # keep the k likeliest tokens; 0 = no top-k
    max_new_tokens: int = 256  # response length cap
    batch_size: int = 8  # prompts per generate() call (each expands to K sequences)
    seed: int = 0  # each batch's samples depend on (seed, batch index) only
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    # Resumable state: with an output_dir, finished batches' rows are kept in output_dir/state
    # (saved whenever either of save_every / save_every_minutes comes first) and a rerun with the
    # same output_dir generates only the batches left. None = nothing is written.
    output_dir: str | None = None
    save_every: int = 100  # batches between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time
    # Active selection (selection.py): keep `select` prompts of the pool (0 = all of them),
    # chosen by `selection`: "random" (seeded), "rm_spread" (the smallest spread of
    # `reward_model`'s scores of the K samples) or "rm_disagreement" (the largest share of
    # sample pairs that `reward_model` and `second_reward_model` order oppositely). The RM
    # policies sample the whole pool first: sureness is judged on the samples themselves.
    selection: str = "random"
    select: int = 0
    reward_model: str | None = None  # reward-model checkpoint folder for the rm_* policies
    second_reward_model: str | None = None  # the other checkpoint for rm_disagreement
    prompts_file: str | None = None  # CLI: JSONL/Parquet/HF dir with a "prompt" column (or strings)
    out_file: str | None = None  # CLI: where the JSONL rows go

    def __post_init__(self) -> None:
        policies = ("random", "rm_spread", "rm_disagreement")  # selection.POLICIES, torch-free
        if self.selection not in policies:
            raise ValueError(f"selection: {self.selection!r} is not one of {', '.join(policies)}")
        if self.selection != "random" and not self.reward_model:
            raise ValueError(f"reward_model: selection {self.selection} needs a reward model")
        if self.selection == "rm_disagreement" and not self.second_reward_model:
            raise ValueError("second_reward_model: rm_disagreement compares two reward models")
        given = {"temperature": ">= 0", "top_p": "in (0, 1]", "top_k": ">= 0"}
        check(
            self, **{name: rule for name, rule in given.items() if getattr(self, name) is not None}
        )
        check(
            self,
            k=">= 1",
            max_new_tokens=">= 1",
            batch_size=">= 1",
            save_every=">= 0",
            save_every_minutes=">= 0",
            select=">= 0",
        )


def resolve_sampling(config: GenerateConfig, model_defaults: dict[str, Any]) -> dict[str, Any]:
    """The sampling settings a run uses: {"temperature", "top_p", "top_k"}.

    Each is the config's value when given, else the model's (`model_defaults`: what the
    model's generation_config sets, see generate.model_sampling_defaults), else
    DEFAULT_TEMPERATURE / DEFAULT_TOP_P / no top-k. top_k None means no top-k truncation
    (an explicit 0 is the same and is recorded as None); temperature 0 means greedy, and then
    top_p and top_k do nothing and are recorded as None.
    """
    fallback = {"temperature": DEFAULT_TEMPERATURE, "top_p": DEFAULT_TOP_P, "top_k": None}
    out = {}
    for name in SAMPLING_KEYS:
        value = getattr(config, name)
        if value is None:
            value = model_defaults.get(name, fallback[name])
        out[name] = value
    out["temperature"] = float(out["temperature"])
    out["top_p"] = float(out["top_p"]) if out["top_p"] is not None else None
    out["top_k"] = int(out["top_k"]) if out["top_k"] else None
    if out["temperature"] == 0:
        out["top_p"] = out["top_k"] = None
    return out
