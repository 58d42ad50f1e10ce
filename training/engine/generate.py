"""Sample K responses per prompt from a checkpoint: the rows that become ranking tasks.

    python -m training.engine.generate --model var/artifacts/sft --prompts_file prompts.jsonl \
        --out_file responses.jsonl --k 4 [--output_dir var/artifacts/gen-1]

Output rows are `{"prompt", "response", "model", "sampling"}` (what `manage.py import_responses`
reads); the prompt is echoed exactly as given (text or a list of messages), so rows join back to
their prompt. `sampling` is what the row was sampled with: temperature, top_p, top_k (None: no
top-k), max_new_tokens, seed and model. Unset sampling settings come from the model's own
generation_config, else temperature 0.7 and top_p 0.9 (`generate_config.resolve_sampling`).

Each batch's samples depend only on (seed, batch index), so a run that resumes produces what an
uninterrupted one would. With an `output_dir`, finished batches are kept in
`output_dir/state/` (saved every `save_every` batches or `save_every_minutes`, whichever comes
first) and a rerun generates only the batches left:
    rows.jsonl   the rows of the saved batches, in prompt order
    state.json   {"batches", "bytes", "fingerprint"}; replaced atomically after rows.jsonl is
                 flushed to disk, so whatever rows.jsonl holds past `bytes` (a batch whose save
                 was cut off) is dropped on resume
The folder is deleted when the run finishes: the returned rows are the output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from training.engine import progress, selection
from training.engine.base_model import load_causal_lm, load_tokenizer, resolve_model
from training.engine.config import parse_cli
from training.engine.data import encode_prompt, prompt_to_messages, read_rows, stop_token_ids
from training.engine.generate_config import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    SAMPLING_KEYS,
    GenerateConfig,
    resolve_sampling,
)

Callback = Any  # callback(step: int, total_steps: int, metrics: dict[str, float]); see progress.py


def decode_texts(tokenizer, token_rows) -> list[str]:
    """The texts of generated token rows, special tokens and surrounding space dropped. A
    byte-level vocabulary can decode to NUL, which no text field (nor PostgreSQL) stores:
    dropped too, so one odd sample never fails the job that registers it."""
    texts = tokenizer.batch_decode(token_rows, skip_special_tokens=True)
    return [text.replace("\x00", "").strip() for text in texts]


def sample_responses(
    model,
    tokenizer,
    prompts: list[str | list[dict]],
    *,
    k: int = 1,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float | None = DEFAULT_TOP_P,
    top_k: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    callback: Callback | None = None,
    poll: Callable[[], None] | None = None,
) -> list[list[str]]:
    """K decoded responses for each prompt, from an already loaded model (SFT's best-epoch
    selection calls this on the model being trained). `poll()` runs before each batch, so the
    caller can cancel between batches; `callback(batch, total, {})` after each. The sampling
    settings are used as given (None top_p / top_k: no truncation), never the model's
    generation_config: `generate_responses` resolves those first."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so pad on the left
    device = next(model.parameters()).device
    stop_ids = stop_token_ids(model, tokenizer)
    out: list[list[str]] = []
    total = (len(prompts) + batch_size - 1) // batch_size
    try:
        for batch_index, start in enumerate(range(0, len(prompts), batch_size)):
            if poll is not None:
                poll()
            texts = [
                {"input_ids": encode_prompt(tokenizer, prompt_to_messages(p))}
                for p in prompts[start : start + batch_size]
            ]
            enc = tokenizer.pad(texts, padding=True, return_tensors="pt").to(device)
            sampling = temperature > 0
            with torch.no_grad():
                generated = model.generate(
                    **enc,
                    do_sample=sampling,
                    temperature=temperature if sampling else None,
                    # explicit "no truncation" values: None would let generate() fall back to
                    # the model's generation_config (top_k 50 when it sets none)
                    top_p=(top_p or 1.0) if sampling else None,
                    top_k=(top_k or 0) if sampling else None,
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=k if sampling else 1,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=stop_ids or None,
                )
            new_tokens = generated[:, enc.input_ids.shape[1] :]
            decoded = decode_texts(tokenizer, new_tokens)
            if not sampling:  # greedy decoding has one answer; transformers refuses to repeat it
                decoded = [text for text in decoded for _ in range(k)]
            for i in range(len(texts)):
                out.append(decoded[i * k : (i + 1) * k])
            if callback is not None:
                callback(batch_index + 1, total, {})
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return out


def model_sampling_defaults(model_path, model) -> dict[str, Any]:
    """The sampling settings (temperature, top_p, top_k) the model's generation_config sets.

    Only values the model's authors wrote count: for a folder, the keys present in its
    generation_config.json; for a hub id, what differs from transformers' defaults. A model
    whose generation_config says do_sample=false recommends no sampling settings (generate()
    would ignore them), so it gets none from here: a generation job samples K responses anyway,
    and only an explicit temperature 0 makes it greedy.
    """
    path = Path(resolve_model(model_path))
    file = path / "generation_config.json"
    if path.is_dir():
        settings = json.loads(file.read_text()) if file.is_file() else {}
    else:
        generation_config = getattr(model, "generation_config", None)
        settings = generation_config.to_diff_dict() if generation_config is not None else {}
    if settings.get("do_sample") is False:
        return {}
    return {name: settings[name] for name in SAMPLING_KEYS if settings.get(name) is not None}


# ---------------------------------------------------------------------------------------------
# resumable state


def fingerprint(config: GenerateConfig, prompts: list) -> str:
    """What the saved rows depend on: a rerun with other prompts or sampling settings must not
    pick up rows sampled for the old ones."""
    fields = ("model", "model_name", "k", *SAMPLING_KEYS, "max_new_tokens", "batch_size")
    fields += ("seed", "dtype")
    data = {name: getattr(config, name) for name in fields} | {"prompts": prompts}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def load_rows_state(state_dir: Path, expected: str) -> tuple[int, list[dict[str, Any]]]:
    """(batches done, their rows) saved in `state_dir`; (0, []) and a clean folder when there is
    nothing to resume (none saved, or saved for other prompts / settings)."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
        rows_file = state_dir / "rows.jsonl"
        if state["fingerprint"] == expected and rows_file.stat().st_size >= state["bytes"]:
            # rows past the recorded size belong to a save that was cut off: drop them
            os.truncate(rows_file, state["bytes"])
            with open(rows_file, encoding="utf-8") as f:
                return state["batches"], [json.loads(line) for line in f]
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(state_dir, ignore_errors=True)
    return 0, []


def save_rows_state(state_dir: Path, rows: list[dict[str, Any]], batches: int, fp: str) -> None:
    """Append `rows` to rows.jsonl, make them durable, then record `batches` as done."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "rows.jsonl", "a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
    tmp = state_dir / "state.json.tmp"
    tmp.write_text(json.dumps({"batches": batches, "bytes": size, "fingerprint": fp}))
    os.replace(tmp, state_dir / "state.json")


# ---------------------------------------------------------------------------------------------
# generation


def generate_responses(
    config: GenerateConfig,
    prompts: list[str | list[dict]],
    callback: Callback | None = None,
) -> list[dict[str, Any]]:
    """`config.k` rows per prompt, in prompt order.

    With `config.output_dir`, a rerun after a crash or a cancellation skips the batches saved in
    output_dir/state and returns all rows, the saved ones and the new ones. `callback(batch,
    total, metrics)` runs after each batch (before its save), `callback.poll()` before each.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    tokenizer = load_tokenizer(config.model)
    model = load_causal_lm(config.model, dtype=dtype).to(device)
    name = config.model_name or str(config.model)
    settings = resolve_sampling(config, model_sampling_defaults(config.model, model))
    # recorded on every row (and, through the platform, on every Response): what the text was
    # sampled with, so a reader can tell a model's quality from its sampling settings
    sampling = {
        **settings,
        "max_new_tokens": config.max_new_tokens,
        "seed": config.seed,
        "model": str(config.model),
    }
    print(f"sampling: {json.dumps(sampling)}", flush=True)
    # a random choice needs no samples: take it before sampling (the RM policies sample the
    # whole pool, then judge it in `select_prompts`)
    pool = list(range(len(prompts)))
    if config.selection == "random" and config.select:
        picked = selection.choose("random", config.select, n_prompts=len(prompts), seed=config.seed)
        pool = sorted(i for i, _ in picked)
        prompts = [prompts[i] for i in pool]
    size = config.batch_size
    total = (len(prompts) + size - 1) // size

    state_dir = Path(config.output_dir) / "state" if config.output_dir else None
    fp = fingerprint(config, prompts)
    start, rows = 0, []
    if state_dir is not None:
        start, rows = load_rows_state(state_dir, fp)
        if start:
            print(f"resumed from {state_dir} after batch {start}/{total}", flush=True)
            progress.report_resumed(callback, start)
    schedule = progress.SaveSchedule(config.save_every, config.save_every_minutes)

    started, n_tokens = time.perf_counter(), 0
    pending: list[dict[str, Any]] = []  # rows generated since the last save
    for batch in range(start, total):
        progress.poll(callback)
        batch_prompts = prompts[batch * size : (batch + 1) * size]
        # each batch's samples depend on (seed, batch) only: a resumed run samples what an
        # uninterrupted one would have
        torch.manual_seed(config.seed * 1_000_003 + batch)
        responses = sample_responses(
            model,
            tokenizer,
            batch_prompts,
            k=config.k,
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            top_k=settings["top_k"],
            max_new_tokens=config.max_new_tokens,
            batch_size=size,
        )
        for offset, (prompt, texts) in enumerate(zip(batch_prompts, responses, strict=True)):
            index = pool[batch * size + offset]  # the prompt's position in the job's list
            for text in texts:
                n_tokens += len(tokenizer(text, add_special_tokens=False).input_ids)
                pending.append(
                    {
                        "prompt": prompt,
                        "prompt_index": index,
                        "response": text,
                        "model": name,
                        "sampling": sampling,
                    }
                )
        done = batch + 1
        # reported before the save, as the trainers do (progress.py)
        if callback is not None:
            metrics = {"generate/prompts": float(min(done * size, len(prompts)))}
            callback(done, total, metrics)
        # the last batch is not saved: the returned rows supersede the state
        if state_dir is not None and done < total and schedule.due(done):
            save_rows_state(state_dir, pending, done, fp)
            rows += pending
            pending = []
            schedule.saved()
    rows += pending
    elapsed = time.perf_counter() - started
    del model  # the reward models below need the memory
    rows = select_prompts(config, rows, callback)
    if callback is not None:
        # identical samples (greedy, a peaked model, short caps) leave a prompt fewer than K
        # different responses to rank: said here, not found out from missing tasks
        k = config.k
        distinct = [len({r["response"] for r in rows[i : i + k]}) for i in range(0, len(rows), k)]
        metrics = {
            "generate/tokens_per_second": n_tokens / max(elapsed, 1e-9),
            "generate/distinct_per_prompt": sum(distinct) / max(len(distinct), 1),
        }
        callback(total, total, metrics)
    if state_dir is not None:
        shutil.rmtree(state_dir, ignore_errors=True)
    return rows


def select_prompts(config: GenerateConfig, rows: list[dict], callback=None) -> list[dict]:
    """The rows of the prompts that active selection keeps, each marked with the policy and
    the prompt's score; with a random (or no) choice, every row, marked unscored."""
    if config.selection == "random":
        return [{**row, "selection": {"policy": "random", "score": None}} for row in rows]
    from training.engine.reward import score_responses

    poll = getattr(callback, "poll", None)
    prompts = [row["prompt"] for row in rows]
    texts = [row["response"] for row in rows]
    by_prompt: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_prompt.setdefault(row["prompt_index"], []).append(i)
    order = list(by_prompt)

    def per_prompt(model_path) -> list[list[float]]:
        scores = score_responses(model_path, prompts, texts, poll=poll)
        return [[scores[i] for i in by_prompt[p]] for p in order]

    first = per_prompt(config.reward_model)
    second = (
        per_prompt(config.second_reward_model) if config.selection == "rm_disagreement" else None
    )
    n = config.select or len(order)
    chosen = {order[i]: score for i, score in selection.choose(config.selection, n, first, second)}
    print(f"selection: {config.selection} kept {len(chosen)} of {len(order)} prompts", flush=True)
    return [
        {**row, "selection": {"policy": config.selection, "score": chosen[row["prompt_index"]]}}
        for row in rows
        if row["prompt_index"] in chosen
    ]


def prompt_of(row: Any) -> str | list[dict]:
    if isinstance(row, str):
        return row
    if "prompt" in row:
        return row["prompt"]
    if "messages" in row:  # a conversation to continue: everything up to the last user turn
        messages = row["messages"]
        return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    raise ValueError(f"no prompt in row (keys: {sorted(row)})")


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(GenerateConfig, argv, required=("prompts_file", "out_file"))
    # rows may also be bare JSON strings, one a line (OASST's prompt lottery file)
    rows = read_rows(config.prompts_file)
    prompts = [prompt_of(row) for row in rows]
    out = generate_responses(config, prompts, callback=progress.print_progress)
    Path(config.out_file).parent.mkdir(parents=True, exist_ok=True)
    with open(config.out_file, "w", encoding="utf-8") as f:
        for row in out:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps({"out_file": config.out_file, "rows": len(out)}, indent=2))


if __name__ == "__main__":
    main()
