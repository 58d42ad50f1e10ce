"""EvaluateConfig: a policy against its parent, judged by a reward model
(training/engine/evaluate.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.engine.config import check


@dataclass
class EvaluateConfig:
    policy: str = "tiny"  # the new policy (a PPO checkpoint folder, or any causal LM)
    parent_model: str = ""  # what the policy started from (the SFT checkpoint): the baseline
    reward_model: str = ""  # folder written by train_reward: the judge
    output_dir: str | None = None  # samples.jsonl (both answers and their rewards) goes here
    prompts_file: str | None = None  # CLI only: prompt rows (text, messages or {"prompt": ...})
    out_file: str | None = None  # CLI only: where the per-prompt JSONL rows go
    samples_per_prompt: int = 1  # answers per prompt and model; a prompt's reward is their mean
    # Both models are sampled with the same settings and the same seed, so the comparison is
    # of the models, not of the sampling. InstructGPT compared samples at temperature 1;
    # 0.7 / 0.9 are the chat defaults generation uses (generate_config.py).
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9  # nucleus sampling; 1.0 keeps the whole distribution
    max_new_tokens: int = 128  # answer length cap
    batch_size: int = 8  # prompts per generate() call and per reward-model pass
    max_length: int = 512  # prompt + answer tokens the reward model reads
    seed: int = 0  # the sampling seed, the same for policy and parent
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    device: str = ""  # "cpu" forces the CPU; "" = cuda when available
    # Resumable state: with an output_dir, each model's finished batches of answers are kept in
    # output_dir/state/<policy|parent> (saved whenever either of these comes first), and a rerun
    # samples only the batches left (each batch's samples depend on (seed, batch) only).
    save_every: int = 100  # batches between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time

    def __post_init__(self) -> None:
        check(
            self,
            samples_per_prompt=">= 1",
            temperature=">= 0",
            top_p="in (0, 1]",
            max_new_tokens=">= 1",
            batch_size=">= 1",
            max_length=">= 2",
            save_every=">= 0",
            save_every_minutes=">= 0",
        )
