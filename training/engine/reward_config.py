"""RewardConfig: the hyper-parameters of reward-model training (training/engine/reward.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.engine.config import LORA_TARGET_MODULES, check


@dataclass
class RewardConfig:
    model: str = "tiny"  # the SFT checkpoint the reward model starts from (folder or known name)
    output_dir: str = "var/artifacts/rm"  # final model here; resumable state in output_dir/state
    train_file: str | None = None  # CLI only: rankings or pairs (JSONL / Parquet / HF dataset)
    eval_file: str | None = None  # CLI only: held-out rankings for eval/accuracy
    demonstrations_file: str | None = None  # CLI only: their mean reward is set to 0
    lr: float = 9e-6  # InstructGPT's 6B RM learning rate; tiny models want ~1e-3
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 0  # optimizer steps of linear warmup from 0
    min_lr_ratio: float = 0.1  # cosine decay to 10% of lr, as in the paper
    max_grad_norm: float = 1.0  # clip the global gradient norm
    epochs: int = 1  # InstructGPT: one epoch (more overfits the correlated pairs)
    rankings_per_batch: int = 8  # rankings (not pairs) per optimizer step; the paper used 64
    max_length: int = 512  # prompt + one response, in tokens
    seed: int = 0  # the new head's init and the data order
    lora: bool = False  # train LoRA adapters (+ the new head), not all weights; merged on save
    lora_r: int = 16  # adapter rank
    lora_alpha: int = 32  # adapter scale numerator (scale = alpha / r)
    lora_dropout: float = 0.05  # dropout on the adapter input
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGET_MODULES))
    packing: bool = True  # one row per ranking, no pad tokens inside it
    share_prompt: bool = True  # encode the prompt once for all K responses (implies packing)
    # Resumable state (output_dir/state) is written whenever either of these comes first; a
    # rerun with the same output_dir continues from it.
    save_every: int = 100  # optimizer steps between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time
    eval_every: int = 0  # steps between evaluations on eval_rows; 0 = only at the end
    eval_batch_size: int = 16  # rankings per forward pass when evaluating / scoring
    normalise_samples: int = 512  # responses used to centre rewards when no demonstrations given
    dtype: str = "float32"  # weights' dtype during training
    device: str = ""  # "cpu" forces the CPU; "" = the device accelerate gives this process

    def __post_init__(self) -> None:
        check(
            self,
            lr="> 0",
            weight_decay=">= 0",
            warmup_steps=">= 0",
            min_lr_ratio="in [0, 1]",
            max_grad_norm="> 0",
            epochs=">= 1",
            rankings_per_batch=">= 1",
            max_length=">= 2",  # one prompt token and one response token at least
            lora_r=">= 1",
            lora_alpha="> 0",
            lora_dropout="in [0, 1)",
            save_every=">= 0",
            save_every_minutes=">= 0",
            eval_every=">= 0",
            eval_batch_size=">= 1",
            normalise_samples=">= 1",
        )

    @property
    def layout(self) -> str:
        """How rankings become model inputs (see reward_packing.py)."""
        if self.share_prompt:
            return "shared"
        return "packed" if self.packing else "padded"
