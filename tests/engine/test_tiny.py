import threading

from transformers import AutoModelForCausalLM, AutoTokenizer

from training.engine.tiny import build_tiny, tiny_model_dir


def test_tiny_loads_with_auto_classes(tiny_model_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert tokenizer.is_fast and tokenizer.pad_token_id is not None
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.model_type == "llama"
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert (tiny_model_path / "model.safetensors").exists()


def test_chat_template_renders_multi_turn(tiny_model_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a colour."},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    ids = tokenizer(text, add_special_tokens=False).input_ids
    # the markers are single special tokens, not BPE pieces
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 5
    assert tokenizer.decode(ids) == text


def test_build_is_deterministic_per_seed(tmp_path):
    a = build_tiny(tmp_path / "a", n_layer=1, hidden_size=32, n_head=2, seed=3)
    b = build_tiny(tmp_path / "b", n_layer=1, hidden_size=32, n_head=2, seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_cache_is_built_once_under_concurrency(tmp_path):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(tiny_model_dir(tmp_path))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and (results[0] / "config.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".build-")]
    assert tiny_model_dir(tmp_path) == results[0]
