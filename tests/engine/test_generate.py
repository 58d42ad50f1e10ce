import json
import shutil

import pytest
import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.generate import (
    GenerateConfig,
    generate_responses,
    main,
    model_sampling_defaults,
)
from training.engine.generate_config import resolve_sampling

from .helpers import Killed, Recorder

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


PROMPTS = [f"Tell me about thing {i}." for i in range(7)]  # 4 batches of 2


def gen_config(tiny_model_path, tmp_path, **kw):
    base = dict(
        model=str(tiny_model_path),
        k=2,
        max_new_tokens=4,
        batch_size=2,
        seed=3,
        output_dir=str(tmp_path / "gen"),
    )
    return GenerateConfig(**(base | kw))


def test_resume_skips_saved_batches_and_returns_every_row(tiny_model_path, tmp_path):
    straight = generate_responses(gen_config(tiny_model_path, tmp_path, output_dir=None), PROMPTS)
    config = gen_config(tiny_model_path, tmp_path, save_every=2)
    state = tmp_path / "gen" / "state"

    first = Recorder(kill_at=3)  # killed after batch 3; the last save was after batch 2
    with pytest.raises(Killed):
        generate_responses(config, PROMPTS, callback=first)
    assert json.loads((state / "state.json").read_text())["batches"] == 2
    saved = [json.loads(line) for line in (state / "rows.jsonl").read_text().splitlines()]
    # 2 batches x 2 prompts x k = 2, as sampled (the selection mark is added at the end)
    assert saved == [{k: v for k, v in r.items() if k != "selection"} for r in straight[:8]]
    with open(state / "rows.jsonl", "a") as f:
        f.write('{"prompt": "Tell me about thi')  # a later save, cut off mid-row

    second = Recorder()
    rows = generate_responses(config, PROMPTS, callback=second)
    assert second.resumed_at == [2] and second.steps == [3, 4, 4]  # + the final summary
    assert second.polls == 2  # before each batch generated
    # old and new rows in prompt order, the same as a run never interrupted (each batch's
    # samples depend on (seed, batch index) only); the half-written row is gone
    assert rows == straight
    assert not state.exists()


def test_saved_rows_of_other_settings_are_not_resumed(tiny_model_path, tmp_path):
    with pytest.raises(Killed):
        generate_responses(
            gen_config(tiny_model_path, tmp_path, save_every=1), PROMPTS, callback=Recorder(1)
        )
    assert (tmp_path / "gen" / "state" / "state.json").exists()
    recorder = Recorder()
    rows = generate_responses(gen_config(tiny_model_path, tmp_path, k=3), PROMPTS, recorder)
    assert recorder.resumed_at == [] and recorder.steps[0] == 1
    assert len(rows) == 7 * 3


def test_poll_cancels_between_batches(tiny_model_path, tmp_path):
    recorder = Recorder(kill_at_poll=3)
    with pytest.raises(Killed):
        generate_responses(gen_config(tiny_model_path, tmp_path), PROMPTS, callback=recorder)
    assert recorder.steps == [1, 2]


# --- sampling defaults: the model's generation_config, else temperature 0.7 / top_p 0.9 ------


def with_generation_config(tiny_model_path, folder, **settings):
    """A copy of the tiny model whose generation_config.json also sets `settings`."""
    shutil.copytree(tiny_model_path, folder)
    path = folder / "generation_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | settings))
    return folder


def responses(rows):
    return [r["response"] for r in rows]


def test_unset_sampling_comes_from_the_models_generation_config(tiny_model_path, tmp_path):
    model = with_generation_config(
        tiny_model_path, tmp_path / "m", do_sample=True, temperature=0.3, top_p=0.8, top_k=20
    )
    prompts = ["Write a haiku.", "Say hi."]
    rows = generate_responses(GenerateConfig(model=str(model), k=3, max_new_tokens=6), prompts)
    expected = {"temperature": 0.3, "top_p": 0.8, "top_k": 20}
    assert {json.dumps(r["sampling"], sort_keys=True) for r in rows} == {
        json.dumps(expected | {"max_new_tokens": 6, "seed": 0, "model": str(model)}, sort_keys=True)
    }
    # the recorded settings are the ones sampled with: the same weights given them explicitly
    # sample the same texts
    explicit = GenerateConfig(model=str(tiny_model_path), k=3, max_new_tokens=6, **expected)
    assert responses(generate_responses(explicit, prompts)) == responses(rows)
    # an explicit value wins over the model's; the others still come from the model
    hot = generate_responses(
        GenerateConfig(model=str(model), k=3, max_new_tokens=6, temperature=1.5), prompts
    )
    assert hot[0]["sampling"] == rows[0]["sampling"] | {"temperature": 1.5}


def test_without_model_settings_temperature_07_top_p_09(tiny_model_path, tmp_path):
    # the tiny model's generation_config holds token ids only, as the demo model's does
    assert model_sampling_defaults(tiny_model_path, None) == {}
    prompts = ["Write a haiku.", MULTI_TURN]
    config = GenerateConfig(model=str(tiny_model_path), k=3, seed=2, max_new_tokens=8)
    rows = generate_responses(config, prompts)
    assert rows[0]["sampling"] == {"temperature": 0.7, "top_p": 0.9, "top_k": None,
                                   "max_new_tokens": 8, "seed": 2,
                                   "model": str(tiny_model_path)}  # fmt: skip
    fallback = {"temperature": 0.7, "top_p": 0.9, "top_k": 0}
    explicit = GenerateConfig(model=str(tiny_model_path), k=3, seed=2, max_new_tokens=8, **fallback)
    assert responses(generate_responses(explicit, prompts)) == responses(rows)
    # not transformers' own defaults (temperature 1, top_k 50): those sample other texts
    transformers_defaults = GenerateConfig(
        model=str(tiny_model_path),
        k=3,
        seed=2,
        max_new_tokens=8,
        temperature=1.0,
        top_p=1.0,
        top_k=50,
    )
    assert responses(generate_responses(transformers_defaults, prompts)) != responses(rows)
    # a generation_config that does not sample recommends nothing
    greedy = with_generation_config(tiny_model_path, tmp_path / "g", do_sample=False, top_k=5)
    assert model_sampling_defaults(greedy, None) == {}


def test_resolve_sampling_order_and_greedy():
    model = {"temperature": 0.6, "top_k": 40}
    assert resolve_sampling(GenerateConfig(), model) == {
        "temperature": 0.6, "top_p": 0.9, "top_k": 40
    }  # fmt: skip
    assert resolve_sampling(GenerateConfig(top_p=0.5, top_k=0), model) == {
        "temperature": 0.6, "top_p": 0.5, "top_k": None
    }  # fmt: skip
    # greedy: nothing is truncated, so top_p and top_k are not recorded as if they were
    assert resolve_sampling(GenerateConfig(temperature=0), model) == {
        "temperature": 0.0, "top_p": None, "top_k": None
    }  # fmt: skip


def test_identical_samples_are_counted(tiny_model_path):
    recorder = Recorder()
    config = GenerateConfig(model=str(tiny_model_path), k=3, temperature=0, max_new_tokens=4)
    rows = generate_responses(config, ["Hi", "Bye"], callback=recorder)
    assert len(rows) == 6 and len(set(responses(rows[:3]))) == 1
    assert recorder.metrics[-1]["generate/distinct_per_prompt"] == 1.0


def test_decoded_samples_drop_nul_characters(tiny_model_path):
    """A random model can sample the byte token that decodes to NUL; the text keeps the rest."""
    from training.engine.base_model import load_tokenizer
    from training.engine.generate import decode_texts

    tokenizer = load_tokenizer(tiny_model_path)
    ids = tokenizer(" hi\x00there ", add_special_tokens=False).input_ids
    assert "\x00" in tokenizer.decode(ids)  # the tokenizer does produce it
    assert decode_texts(tokenizer, [ids]) == ["hithere"]
