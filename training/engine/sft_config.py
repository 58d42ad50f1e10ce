"""SFTConfig: the hyper-parameters of supervised fine-tuning (training/engine/sft.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from training.engine.config import LORA_TARGET_MODULES, check


@dataclass
class SFTConfig:
    model: str = "smollm2-135m-instruct"  # base: local folder, "tiny", the demo model or a hub id
    output_dir: str = "var/artifacts/sft"  # final model here; resumable state in output_dir/state
    train_file: str | None = None  # CLI only: demonstrations (JSONL / Parquet / HF dataset folder)
    eval_file: str | None = None  # CLI only: held-out demonstrations for eval/loss
    learning_rate: float = 2e-5  # peak LR after warmup
    epochs: int = 3  # InstructGPT ran 16 on 13k demos and picked the epoch by RM score
    max_steps: int = 0  # stop after this many optimizer steps; 0 = the epochs decide
    batch_size: int = 8  # sequences (or packs) per device per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step; effective batch = this x batch x GPUs
    max_length: int = 1024  # tokens per example (or per pack); longer examples are truncated
    warmup_ratio: float = 0.03  # fraction of the steps with linear warmup from 0
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"  # decay after warmup
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    max_grad_norm: float = 1.0  # clip the global gradient norm; 0 = no clipping
    packing: bool = False  # concatenate examples into max_length rows (see `pack`)
    eval_every: int = 0  # also evaluate every N steps; 0 = only at each epoch end
    # Resumable state (output_dir/state) is written at every epoch end and whenever either of
    # these comes first; a rerun with the same output_dir continues from it.
    save_every: int = 100  # optimizer steps between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time
    seed: int = 0  # model init (LoRA), data order, dropout
    lora: bool = False  # train LoRA adapters instead of all weights (merged into the output)
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scale numerator (scale = alpha / r)
    lora_dropout: float = 0.05  # dropout on the adapter input
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGET_MODULES))
    gradient_checkpointing: bool = False  # recompute activations: less memory, ~30% slower
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # autocast on GPU; weights stay fp32
    reward_model: str | None = None  # pick the epoch with the best mean reward on eval prompts
    reward_eval_prompts: int = 64  # eval prompts answered (greedily) per epoch for that
    reward_max_new_tokens: int = 128  # answer length for that

    def __post_init__(self) -> None:
        check(
            self,
            learning_rate="> 0",
            epochs=">= 1",
            max_steps=">= 0",
            batch_size=">= 1",
            grad_accum=">= 1",
            max_length=">= 2",  # one prompt token and one response token at least
            warmup_ratio="in [0, 1)",
            weight_decay=">= 0",
            max_grad_norm=">= 0",
            eval_every=">= 0",
            save_every=">= 0",
            save_every_minutes=">= 0",
            lora_r=">= 1",
            lora_alpha="> 0",
            lora_dropout="in [0, 1)",
            reward_eval_prompts=">= 1",
            reward_max_new_tokens=">= 1",
        )
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            raise ValueError(f"adam_betas: must be two numbers in [0, 1), got {self.adam_betas!r}")
