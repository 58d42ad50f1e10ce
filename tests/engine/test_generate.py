import json

import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.generate import GenerateConfig, generate_responses, main

MULTI_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Name a colour."},
]


def test_k_rows_per_prompt_in_order(tiny_model_path):
    prompts = ["Write a haiku.", MULTI_TURN, "Say hi."]
    config = GenerateConfig(
        model=str(tiny_model_path),
        model_name="tiny-sft",
        k=3,
        max_new_tokens=6,
        batch_size=2,
        seed=1,
    )
    rows = generate_responses(config, prompts)
    assert len(rows) == 9
    assert [r["prompt"] for r in rows] == [p for p in prompts for _ in range(3)]
    assert {r["model"] for r in rows} == {"tiny-sft"}
    assert all(isinstance(r["response"], str) for r in rows)
    assert generate_responses(config, prompts) == rows  # same seed, same samples
    assert len({r["response"] for r in rows[:3]}) > 1  # sampling: K different responses


def test_multi_turn_prompt_goes_through_chat_template(tiny_model_path):
    config = GenerateConfig(model=str(tiny_model_path), k=2, temperature=0.0, max_new_tokens=8)
    rows = generate_responses(config, [MULTI_TURN])
    assert rows[0]["response"] == rows[1]["response"]  # greedy: K identical

    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    ids = tokenizer.apply_chat_template(MULTI_TURN, add_generation_prompt=True, return_tensors="pt")
    assert tokenizer.decode(ids[0]).count("<|im_start|>") == 5
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=8,
            pad_token_id=tokenizer.pad_token_id,
        )
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
    assert rows[0]["response"] == expected


def test_left_padding_does_not_change_answers(tiny_model_path):
    config = GenerateConfig(
        model=str(tiny_model_path), k=1, temperature=0.0, max_new_tokens=6, batch_size=1
    )
    prompts = ["Hi", "A much longer prompt with many more words in it than the first one."]
    alone = generate_responses(config, prompts)
    config.batch_size = 2
    assert generate_responses(config, prompts) == alone


def test_cli_writes_jsonl(tiny_model_path, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"prompt": "Hi"}) + "\n" + json.dumps("Bare string prompt") + "\n"
    )
    out = tmp_path / "out" / "responses.jsonl"
    main(
        [
            "--model",
            str(tiny_model_path),
            "--prompts_file",
            str(prompts),
            "--out_file",
            str(out),
            "--k",
            "2",
            "--max_new_tokens",
            "4",
        ]
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["Hi", "Hi", "Bare string prompt", "Bare string prompt"]
    assert {r["model"] for r in rows} == {str(tiny_model_path)}
