"""Sample K responses per prompt from a checkpoint: the rows that become ranking tasks.

    python -m training.engine.generate --model var/artifacts/sft --prompts_file prompts.jsonl \
        --out_file responses.jsonl --k 4

Output rows are `{"prompt", "response", "model"}` (what `manage.py import_responses` reads); the
prompt is echoed exactly as given (text or a list of messages), so rows join back to their prompt.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.config import parse_cli
from training.engine.data import encode_prompt, prompt_to_messages, read_rows

Callback = Any  # callback(step: int, total_steps: int, metrics: dict[str, float]) -> None


@dataclass
class GenerateConfig:
    model: str = "smollm2-135m-instruct"  # checkpoint folder, "tiny", the demo model or a hub id
    model_name: str | None = None  # the "model" column of the rows; default: `model`
    k: int = 4  # responses per prompt (InstructGPT ranked 4 to 9)
    temperature: float = 1.0  # 0 = greedy (then all K responses are the same)
    top_p: float = 1.0  # nucleus sampling; 1.0 keeps the whole distribution
    max_new_tokens: int = 256  # response length cap
    batch_size: int = 8  # prompts per generate() call (each expands to K sequences)
    seed: int = 0  # same seed, same prompts, same machine -> same responses
    dtype: str = "auto"  # "auto": bfloat16 on GPU, float32 on CPU
    prompts_file: str | None = None  # CLI: JSONL/Parquet/HF dir with a "prompt" column (or strings)
    out_file: str | None = None  # CLI: where the JSONL rows go


def sample_responses(
    model,
    tokenizer,
    prompts: list[str | list[dict]],
    *,
    k: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    callback: Callback | None = None,
) -> list[list[str]]:
    """K decoded responses for each prompt, from an already loaded model (SFT's best-epoch
    selection calls this on the model being trained)."""
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so pad on the left
    device = next(model.parameters()).device
    # stop at the model's own end ids and at the tokenizer's (end of a chat turn) alike
    configured = getattr(model.generation_config, "eos_token_id", None)
    stop_ids = [configured] if isinstance(configured, int) else list(configured or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stop_ids:
        stop_ids.append(tokenizer.eos_token_id)
    out: list[list[str]] = []
    total = (len(prompts) + batch_size - 1) // batch_size
    try:
        for batch_index, start in enumerate(range(0, len(prompts), batch_size)):
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
                    top_p=top_p if sampling else None,
                    top_k=0 if sampling else None,  # only top_p truncates, not the config's top_k
                    max_new_tokens=max_new_tokens,
                    num_return_sequences=k if sampling else 1,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=stop_ids or None,
                )
            new_tokens = generated[:, enc.input_ids.shape[1] :]
            decoded = [
                t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            ]
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


def generate_responses(
    config: GenerateConfig,
    prompts: list[str | list[dict]],
    callback: Callback | None = None,
) -> list[dict[str, Any]]:
    """`config.k` rows per prompt, in prompt order."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    model = load_causal_lm(config.model, dtype=dtype).to(device)
    name = config.model_name or str(config.model)
    started = time.perf_counter()
    n_tokens = 0

    def report(step: int, total: int, metrics: dict[str, float]) -> None:
        if callback is not None:
            metrics = {"generate/prompts": float(min(step * config.batch_size, len(prompts)))}
            callback(step, total, metrics)

    responses = sample_responses(
        model,
        tokenizer,
        prompts,
        k=config.k,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        callback=report,
    )
    rows = []
    for prompt, texts in zip(prompts, responses, strict=True):
        for text in texts:
            n_tokens += len(tokenizer(text, add_special_tokens=False).input_ids)
            rows.append({"prompt": prompt, "response": text, "model": name})
    elapsed = time.perf_counter() - started
    if callback is not None:
        callback(
            len(responses),
            len(responses),
            {"generate/tokens_per_second": n_tokens / max(elapsed, 1e-9)},
        )
    return rows


def _prompt_of(row: Any) -> str | list[dict]:
    if isinstance(row, str):
        return row
    if "prompt" in row:
        return row["prompt"]
    if "messages" in row:  # a conversation to continue: everything up to the last user turn
        messages = row["messages"]
        return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    raise ValueError(f"no prompt in row (keys: {sorted(row)})")


def main(argv: list[str] | None = None) -> None:
    config = parse_cli(GenerateConfig, argv)
    if not config.prompts_file or not config.out_file:
        raise SystemExit("--prompts_file and --out_file are required")
    # rows may also be bare JSON strings, one a line (OASST's prompt lottery file)
    rows = read_rows(config.prompts_file)
    prompts = [_prompt_of(row) for row in rows]
    out = generate_responses(
        config, prompts, callback=lambda s, t, m: print(json.dumps({"step": s, "total": t, **m}))
    )
    Path(config.out_file).parent.mkdir(parents=True, exist_ok=True)
    with open(config.out_file, "w", encoding="utf-8") as f:
        for row in out:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} rows to {config.out_file}")


if __name__ == "__main__":
    main()
