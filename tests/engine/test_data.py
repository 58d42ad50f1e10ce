import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from training.engine.base_model import load_tokenizer
from training.engine.data import (
    demonstration_to_messages,
    read_rows,
    render_prompt,
    stop_token_ids,
    tokenize_demonstration,
)

ROWS = [
    {"prompt": "Say hi", "completion": "hi", "split": "train"},
    {"prompt": "Say bye", "completion": "bye", "split": "validation"},
]


def test_read_rows_all_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in ROWS))
    with gzip.open(tmp_path / "a.json.gz", "wt") as f:
        json.dump(ROWS, f)
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "a.parquet")
    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "flat"))
    DatasetDict(
        {"train": Dataset.from_list(ROWS[:1]), "validation": Dataset.from_list(ROWS[1:])}
    ).save_to_disk(str(tmp_path / "dict"))

    for name in ("a.jsonl", "a.jsonl.gz", "a.json.gz", "a.parquet", "flat"):
        assert read_rows(tmp_path / name) == ROWS, name
        assert read_rows(tmp_path / name, split="validation") == ROWS[1:], name
    assert read_rows(tmp_path / "dict") == ROWS[:1]
    assert read_rows(tmp_path / "dict", split="validation") == ROWS[1:]
    with pytest.raises(ValueError, match="test"):
        read_rows(tmp_path / "dict", split="test")


def test_demonstration_formats_normalise():
    expected = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert demonstration_to_messages({"prompt": "Q", "completion": "A"}) == expected
    assert demonstration_to_messages({"messages": expected}) == expected
    assert (
        demonstration_to_messages({"prompt": expected[:1], "completion": expected[1:]}) == expected
    )
    assert demonstration_to_messages({"instruction": "Q", "input": "", "output": "A"}) == expected
    with pytest.raises(ValueError):
        demonstration_to_messages({"messages": expected[:1]})
    with pytest.raises(ValueError):
        demonstration_to_messages({"text": "x"})


def test_tokenize_masks_exactly_the_prompt(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    row = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
        ]
    }
    example = tokenize_demonstration(tokenizer, row, max_length=512)
    ids, labels = example["input_ids"], example["labels"]
    prompt = render_prompt(tokenizer, row["messages"][:-1])
    n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
    assert labels[:n_prompt] == [-100] * n_prompt  # earlier turns, even assistant ones, are context
    assert labels[n_prompt:] == ids[n_prompt:]
    assert tokenizer.decode(ids[n_prompt:]) == "Blue.<|im_end|>\n"
    assert tokenizer.decode(ids[:n_prompt]).endswith("<|im_start|>assistant\n")
    assert "Hello." in tokenizer.decode(ids[:n_prompt])


def test_tokenize_truncates_to_max_length(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    row = {"prompt": "word " * 100, "completion": "answer " * 100}
    example = tokenize_demonstration(tokenizer, row, max_length=64)
    assert len(example["input_ids"]) == 64 == len(example["labels"])
    assert any(label != -100 for label in example["labels"])


def test_stop_ids_are_the_models_and_the_tokenizers():
    from types import SimpleNamespace as NS

    tokenizer = NS(eos_token_id=9)
    assert stop_token_ids(NS(generation_config=NS(eos_token_id=[5, 9])), tokenizer) == [5, 9]
    assert stop_token_ids(NS(generation_config=NS(eos_token_id=5)), tokenizer) == [5, 9]
    assert stop_token_ids(NS(generation_config=NS(eos_token_id=None)), tokenizer) == [9]
    assert stop_token_ids(NS(), NS(eos_token_id=None)) == []
