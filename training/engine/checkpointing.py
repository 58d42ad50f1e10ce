"""Resumable training state: model (or LoRA adapter), optimizer, scheduler, step, RNG, extras.

A checkpoint folder appears atomically: it is written to a sibling temp folder and renamed into
place, the previous one being moved aside first and deleted last. A job killed at any moment
therefore leaves either the old or the new checkpoint whole, never a half-written one, and
`load_state` also looks at the moved-aside copy in case the kill fell between the two renames.

Layout of `dir`:
    model/       save_pretrained output (full model, or adapter only for a PEFT model)
    trainer.pt   optimizer + scheduler state dicts and RNG states (torch.save)
    state.json   {"step": int, "extra": {...}}; written last: its presence marks a whole checkpoint

Single process, or the main process of a data-parallel run (the caller decides who writes;
DeepSpeed ZeRO-3's sharded optimizer needs `Accelerator.save_state` instead).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.json"
TRAINER_FILE = "trainer.pt"
MODEL_DIR = "model"


def _aside(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def save_state(
    dir: str | Path,
    *,
    model,
    optimizer=None,
    scheduler=None,
    step: int,
    rng: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint of everything needed to continue after `step` optimizer steps."""
    dir = Path(dir)
    dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dir.name}.tmp-", dir=dir.parent))
    try:
        model.save_pretrained(tmp / MODEL_DIR, safe_serialization=True)
        trainer: dict[str, Any] = {}
        if optimizer is not None:
            trainer["optimizer"] = optimizer.state_dict()
        if scheduler is not None:
            trainer["scheduler"] = scheduler.state_dict()
        if rng:
            trainer["rng"] = _rng_state()
        torch.save(trainer, tmp / TRAINER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps({"step": int(step), "extra": extra or {}}))

        aside = _aside(dir)
        shutil.rmtree(aside, ignore_errors=True)
        if dir.exists():
            os.rename(dir, aside)
        os.rename(tmp, dir)
        shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dir


def has_state(dir: str | Path) -> bool:
    return _find(Path(dir)) is not None


def _find(dir: Path) -> Path | None:
    for candidate in (dir, _aside(dir)):
        if (candidate / STATE_FILE).exists():
            return candidate
    return None


def load_state(
    dir: str | Path,
    *,
    model=None,
    optimizer=None,
    scheduler=None,
    rng: bool = True,
) -> tuple[int, dict[str, Any]] | None:
    """Restore what `save_state` wrote into the given objects; return (step, extra), or None when
    there is no complete checkpoint at `dir`."""
    found = _find(Path(dir))
    if found is None:
        return None
    meta = json.loads((found / STATE_FILE).read_text())
    if model is not None:
        load_model_weights(model, found / MODEL_DIR)
    trainer_file = found / TRAINER_FILE
    # weights_only=False: the file holds optimizer/RNG state we wrote ourselves (numpy arrays).
    trainer = torch.load(trainer_file, map_location="cpu", weights_only=False)
    if optimizer is not None and "optimizer" in trainer:
        optimizer.load_state_dict(trainer["optimizer"])
    if scheduler is not None and "scheduler" in trainer:
        scheduler.load_state_dict(trainer["scheduler"])
    if rng and "rng" in trainer:
        _set_rng_state(trainer["rng"])
    return int(meta["step"]), meta.get("extra", {})


def load_model_weights(model, folder: str | Path) -> None:
    """Load a `save_pretrained` folder's weights into an existing model (PEFT: the adapter)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if (folder / "adapter_model.safetensors").exists():
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            raise RuntimeError(f"adapter checkpoint does not fit the model: {unexpected[:5]}")
        return
    index = folder / "model.safetensors.index.json"
    if index.exists():
        from transformers.modeling_utils import load_sharded_checkpoint

        load_sharded_checkpoint(model, folder, strict=False)
        return
    state = load_file(folder / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    # save_pretrained drops tied copies (lm_head when embeddings are tied); they come back by tying.
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if unexpected or set(missing) - tied:
        raise RuntimeError(
            f"checkpoint does not fit the model: missing={missing} unexpected={unexpected}"
        )
    if tied:
        model.tie_weights()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
