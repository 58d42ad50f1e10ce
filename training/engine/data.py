"""Reading exported rows and turning demonstrations into token ids with the prompt masked.

Accepted demonstration rows (TRL's SFT formats, plus Alpaca's for the benchmark data):
    {"prompt": str, "completion": str}                       standard prompt-completion
    {"prompt": [messages], "completion": [messages]}         conversational prompt-completion
    {"messages": [..., {"role": "assistant", ...}]}          conversational
The LAST assistant turn of a conversation is the demonstration and earlier turns are context (as in
InstructGPT: one ideal response to a possibly multi-turn prompt).
    {"instruction": str, "input": str, "output": str}        Alpaca
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

Messages = list[dict[str, str]]


def read_rows(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL (.jsonl / .jsonl.gz), JSON array (.json / .json.gz), Parquet file, or an HF
    `datasets` `save_to_disk` folder (`split` picks one split of a DatasetDict; default "train")."""
    path = Path(path)
    if path.is_dir():
        from datasets import Dataset, DatasetDict, load_from_disk

        data = load_from_disk(str(path))
        if isinstance(data, DatasetDict):
            name = split or ("train" if "train" in data else next(iter(data)))
            if name not in data:
                raise ValueError(f"{path}: no split {name!r} (has {list(data)})")
            data = data[name]
        elif split is not None and "split" in data.column_names:
            data = data.filter(lambda row: row["split"] == split)
        assert isinstance(data, Dataset)
        return data.to_list()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
        stripped = text.lstrip()
        if stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if split is not None and rows and isinstance(rows[0], dict) and "split" in rows[0]:
        rows = [row for row in rows if row.get("split") == split]
    return rows


def prompt_to_messages(prompt: str | Messages) -> Messages:
    """A text prompt is one user turn; a list of messages is used as is."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def demonstration_to_messages(row: dict[str, Any]) -> Messages:
    """The whole conversation of a demonstration row, ending with the assistant's response."""
    if "messages" in row and row["messages"]:
        messages = prompt_to_messages(row["messages"])
        if messages[-1]["role"] != "assistant":
            raise ValueError("a demonstration's messages must end with an assistant turn")
        return messages
    if "prompt" in row and "completion" in row:
        completion = row["completion"]
        if isinstance(completion, str):
            completion = [{"role": "assistant", "content": completion}]
        return prompt_to_messages(row["prompt"]) + prompt_to_messages(completion)
    if "instruction" in row and "output" in row:
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        return [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": row["output"]},
        ]
    raise ValueError(f"not a demonstration row (keys: {sorted(row)})")


def render_prompt(tokenizer, messages: Messages) -> str:
    """The text the model sees before it answers: the chat template with the generation prompt,
    or, for a base model without a template, the turns separated by blank lines."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['content']}\n\n" for m in messages)


def encode_prompt(tokenizer, messages: Messages) -> list[int]:
    """Token ids of the rendered prompt, with the tokenizer's bos when it wants one and the
    template did not already write it: training and generation must see the same ids."""
    ids = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False).input_ids
    if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False):
        if not ids or ids[0] != tokenizer.bos_token_id:
            ids = [tokenizer.bos_token_id] + ids
    return ids


def stop_token_ids(model, tokenizer) -> list[int]:
    """Token ids that end a sampled response: the model's own end ids (`generation_config`,
    possibly several) and the tokenizer's eos (the end of a chat turn) alike."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [configured] if isinstance(configured, int) else list(configured or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def turn_suffix(tokenizer) -> list[int]:
    """Token ids the chat template writes after an assistant turn's EOS (SmolLM2 and the tiny
    model: the newline after <|im_end|>); [] when there is no template or no EOS in the turn.

    A sampled response stops at EOS; with these appended it ends exactly like the rendered
    conversations the reward model is trained and read on (see reward_packing.encode_ranking).
    """
    eos = tokenizer.eos_token_id
    if eos is None or not getattr(tokenizer, "chat_template", None):
        return []
    ids = tokenize_demonstration(tokenizer, {"prompt": "x", "completion": "y"}, 10**9)
    ids = ids["input_ids"]
    return ids[len(ids) - ids[::-1].index(eos) :] if eos in ids else []


def tokenize_demonstration(tokenizer, row: dict[str, Any], max_length: int) -> dict[str, list[int]]:
    """input_ids and labels of one demonstration; labels are -100 on every prompt token.

    Prompt and response are tokenized separately and concatenated, so the boundary is exact even
    where BPE would merge across it. Over-long examples keep the prompt's end and cut the response
    (a truncated response still teaches its beginning; a prompt cut from the left keeps the
    question, which sits last).
    """
    messages = demonstration_to_messages(row)
    prompt_text = render_prompt(tokenizer, messages[:-1])
    if getattr(tokenizer, "chat_template", None):
        full_text = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full_text.startswith(prompt_text):
            raise ValueError(
                "the chat template renders the prompt differently inside the conversation"
            )
        response_text = full_text[len(prompt_text) :]
    else:
        response_text = messages[-1]["content"] + (tokenizer.eos_token or "")
    prompt_ids = encode_prompt(tokenizer, messages[:-1])
    response_ids = tokenizer(response_text, add_special_tokens=False).input_ids
    room_for_prompt = max(max_length - len(response_ids), max_length // 2)
    prompt_ids = prompt_ids[-room_for_prompt:]
    response_ids = response_ids[: max_length - len(prompt_ids)]
    return {
        "input_ids": prompt_ids + response_ids,
        "labels": [-100] * len(prompt_ids) + response_ids,
    }
