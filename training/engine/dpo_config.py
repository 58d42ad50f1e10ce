"""DPOConfig: the hyper-parameters of direct preference optimisation (training/engine/dpo.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack. Defaults follow the DPO paper and
TRL's DPOConfig where they agree (β 0.1, sigmoid loss, no label smoothing), with a learning
rate for full fine-tuning of a small model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from training.engine.config import LORA_TARGET_MODULES, check


@dataclass
class DPOConfig:
    model: str = "tiny"  # the SFT checkpoint DPO starts from; also the frozen reference
    output_dir: str = "var/artifacts/dpo"  # final policy here; resumable state in output_dir/state
    train_file: str | None = None  # CLI only: rankings or pairs (JSONL / Parquet / HF dataset)
    eval_file: str | None = None  # CLI only: held-out rankings for eval/accuracy
    beta: float = 0.1  # strength of the KL tie to the reference (DPO paper; TRL's default)
    loss_type: Literal["sigmoid", "ipo"] = "sigmoid"  # DPO's log-sigmoid, or IPO's squared loss
    label_smoothing: float = 0.0  # conservative DPO: the share of labels assumed flipped
    lr: float = 1e-6  # TRL's default; tiny models want ~1e-3
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 0  # optimizer steps of linear warmup from 0
    min_lr_ratio: float = 0.1  # cosine decay to this share of lr
    max_grad_norm: float = 1.0  # clip the global gradient norm
    epochs: int = 1  # passes over the rankings
    rankings_per_batch: int = 8  # rankings (not pairs) per optimizer step
    max_length: int = 512  # prompt + one response, in tokens
    seed: int = 0  # the data order
    lora: bool = False  # train LoRA adapters, not all weights; merged on save
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scale numerator (scale = alpha / r)
    lora_dropout: float = 0.0  # DPO's log-ratios want the same network in both passes
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGET_MODULES))
    share_prompt: bool = True  # encode the prompt once for all K responses of a ranking
    # Resumable state (output_dir/state) is written whenever either of these comes first.
    save_every: int = 100  # optimizer steps between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time
    eval_every: int = 0  # steps between evaluations on the eval rows; 0 = only at the end
    eval_batch_size: int = 16  # rankings per forward pass for reference log-probs and eval
    dtype: str = "float32"  # weights' dtype during training
    device: str = ""  # "cpu" forces the CPU; "" = the device accelerate gives this process

    def __post_init__(self) -> None:
        if self.loss_type not in ("sigmoid", "ipo"):
            raise ValueError(f"loss_type: must be sigmoid or ipo, got {self.loss_type!r}")
        check(
            self,
            beta="> 0",
            label_smoothing="in [0, 0.5)",
            lr="> 0",
            weight_decay=">= 0",
            warmup_steps=">= 0",
            min_lr_ratio="in [0, 1]",
            max_grad_norm="> 0",
            epochs=">= 1",
            rankings_per_batch=">= 1",
            max_length=">= 2",
            lora_r=">= 1",
            lora_alpha="> 0",
            lora_dropout="in [0, 1)",
            save_every=">= 0",
            save_every_minutes=">= 0",
            eval_every=">= 0",
            eval_batch_size=">= 1",
        )
        if self.loss_type == "ipo" and self.label_smoothing:
            raise ValueError("label_smoothing: only the sigmoid loss takes it")

    @property
    def layout(self) -> str:
        """How rankings become model inputs (see reward_packing.py)."""
        return "shared" if self.share_prompt else "packed"
