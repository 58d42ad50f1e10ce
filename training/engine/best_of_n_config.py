"""BestOfNConfig: rejection sampling against a reward model (training/engine/best_of_n.py).

Torch-free, so the web side validates a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.engine.config import check
from training.engine.generate_config import GenerateConfig


@dataclass
class BestOfNConfig:
    model: str = "smollm2-135m-instruct"  # the policy that samples
    reward_model: str = ""  # the reward-model checkpoint folder that picks the best sample
    model_name: str | None = None  # the "model" of the kept rows; default: best-of-N(model)
    n: int = 8  # samples per prompt; the one the reward model scores highest is kept
    # sampling as in generate (None: the model's own generation_config, else 0.7 / 0.9)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_new_tokens: int = 256  # response length cap
    batch_size: int = 8  # prompts per generate() call (each expands to n sequences)
    score_batch_size: int = 16  # responses per reward-model forward pass
    max_length: int = 512  # prompt + response tokens the reward model reads
    seed: int = 0  # each batch's samples depend on (seed, batch index) only
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    output_dir: str | None = None  # resumable sampling state (see generate.py)
    save_every: int = 100  # batches between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save; 0 = not by time
    prompts_file: str | None = None  # CLI: JSONL/Parquet/HF dir with a "prompt" column
    out_file: str | None = None  # CLI: where the kept rows go (JSONL)

    def __post_init__(self) -> None:
        if not self.reward_model:
            raise ValueError("reward_model: best-of-n needs a reward model to pick with")
        check(self, n=">= 2", score_batch_size=">= 1", max_length=">= 2")
        self.sampling()  # the sampling values obey generate's rules

    def sampling(self) -> GenerateConfig:
        """The generate run that draws the n samples of each prompt."""
        return GenerateConfig(
            model=self.model,
            model_name=self.model_name,
            k=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
            seed=self.seed,
            dtype=self.dtype,
            output_dir=self.output_dir,
            save_every=self.save_every,
            save_every_minutes=self.save_every_minutes,
        )
