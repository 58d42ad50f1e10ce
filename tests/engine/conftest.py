"""Fixtures shared by the engine tests (no Django needed)."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """Path of the tiny random Llama + tokenizer; built once per session (or reused from
    $PREFLAB_MODELS_DIR/tiny when that is set, so repeated runs skip the ~5 s build)."""
    from training.engine.tiny import tiny_model_dir

    if os.environ.get("PREFLAB_MODELS_DIR"):
        return tiny_model_dir()
    return tiny_model_dir(tmp_path_factory.mktemp("models") / "tiny")
