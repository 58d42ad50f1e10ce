"""GenerateConfig: sampling K responses per prompt (training/engine/generate.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.engine.config import check


@dataclass
class GenerateConfig:
    model: str = "smollm2-135m-instruct"  # checkpoint folder, "tiny", the demo model or a hub id
    model_name: str | None = None  # the "model" column of the rows; default: `model`
    k: int = 4  # responses per prompt (InstructGPT ranked 4 to 9)
    temperature: float = 1.0  # 0 = greedy (then all K responses are the same)
    top_p: float = 1.0  # nucleus sampling; 1.0 keeps the whole distribution
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
    prompts_file: str | None = None  # CLI: JSONL/Parquet/HF dir with a "prompt" column (or strings)
    out_file: str | None = None  # CLI: where the JSONL rows go

    def __post_init__(self) -> None:
        check(
            self,
            k=">= 1",
            temperature=">= 0",
            top_p="in (0, 1]",
            max_new_tokens=">= 1",
            batch_size=">= 1",
            save_every=">= 0",
            save_every_minutes=">= 0",
        )
