"""Our SFT loop (training.engine.sft) against TRL's SFTTrainer, same backbone, data and settings.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/sft.py                 # tiny model, then SmolLM2-135M
    HF_HUB_OFFLINE=1 .venv/bin/python bench/sft.py --models tiny --steps 20

Both train on the same conversational prompt/completion rows (loss on completion tokens only), with
the same batch size, steps, learning rate, cosine schedule, warmup, AdamW betas, clipping and seed.
Throughput is non-padding tokens per second of the training loop (TRL's own `num_tokens` counter
and `train_runtime`; our `train/tokens_per_second`), so model loading and tokenization are left out.
Both final models are scored with the same eval function on the same held-out rows.
Data: ../shared/data/alpaca-5000.json.gz when present (benchmarks only, CC BY-NC), else generated.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from training.engine.base_model import load_tokenizer, resolve_model  # noqa: E402
from training.engine.data import demonstration_to_messages, tokenize_demonstration  # noqa: E402
from training.engine.losses import masked_cross_entropy  # noqa: E402
from training.engine.sft import SFTConfig, collate, train_sft  # noqa: E402

ALPACA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "alpaca-5000.json.gz"


def load_rows(n_train: int, n_eval: int, seed: int = 0) -> tuple[list[dict], list[dict], str]:
    """Conversational prompt/completion rows (TRL's format, which our engine also reads)."""
    if ALPACA.exists():
        with gzip.open(ALPACA, "rt") as f:
            raw = json.load(f)
        source = "alpaca-5000"
    else:
        rng = random.Random(seed)
        words = ["red", "green", "blue", "cat", "dog", "house", "river", "stone", "light", "tree"]
        raw = []
        for _ in range(n_train + n_eval):
            picked = rng.sample(words, 4)
            raw.append(
                {
                    "instruction": f"Sort these words: {' '.join(picked)}",
                    "input": "",
                    "output": " ".join(sorted(picked)),
                }
            )
        source = "generated"
    random.Random(seed).shuffle(raw)
    rows = []
    for item in raw[: n_train + n_eval]:
        messages = demonstration_to_messages(item)
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return rows[:n_train], rows[n_train:], source


def eval_loss(model_dir: Path, rows: list[dict], max_length: int) -> float:
    """Token-weighted response cross-entropy of a saved model (the same function for both)."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    examples = [tokenize_demonstration(tokenizer, r, max_length) for r in rows]
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), 8):
            batch = collate(examples[i : i + 8], tokenizer.pad_token_id)
            labels = batch.pop("labels")
            n = int((labels[:, 1:] != -100).sum())
            total += masked_cross_entropy(model(**batch).logits, labels).item() * n
            count += n
    return total / count


def run_ours(model: str, rows: list[dict], args, out: Path) -> dict:
    config = SFTConfig(
        model=model,
        output_dir=str(out),
        learning_rate=args.lr,
        epochs=1,
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_length=args.max_length,
        warmup_ratio=0.1,
        adam_betas=[0.9, 0.999],
        seed=0,
        # TRL runs with save_strategy="no": neither side writes resumable state
        save_every=0,
        save_every_minutes=0,
    )
    result = train_sft(config, rows)
    return {
        "tokens_per_second": result["train/tokens_per_second"],
        "runtime": result["train/runtime"],
    }


def run_trl(model: str, rows: list[dict], args, out: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    path = resolve_model(model)
    tokenizer = load_tokenizer(path)
    config = TRLConfig(
        output_dir=str(out),
        learning_rate=args.lr,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        max_length=args.max_length,
        lr_scheduler_type="cosine",
        warmup_ratio=0.1,
        adam_beta1=0.9,
        adam_beta2=0.999,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        completion_only_loss=True,
        packing=False,
        dataloader_num_workers=0,
        bf16=False,
        fp16=False,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    output = trainer.train()
    trainer.save_model(str(out))
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
    runtime = output.metrics["train_runtime"]
    return {"tokens_per_second": tokens / runtime, "runtime": runtime}


def bench(model: str, args) -> dict:
    """Alternate ours / TRL for `args.rounds` rounds and keep each one's best throughput, so a
    burst of load from other processes on the machine does not decide the ratio."""
    train_rows, eval_rows, source = load_rows(args.batch_size * args.steps, args.eval_rows)
    print(
        f"\n== {model}: {args.steps} steps x {args.batch_size} rows ({source}), "
        f"max_length {args.max_length}, {torch.get_num_threads()} threads, {args.rounds} rounds",
        flush=True,
    )
    runs = {"ours": run_ours, "trl": run_trl}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for name, run in runs.items():
                out = Path(tmp) / f"{name}-{round_index}"
                torch.manual_seed(0)
                started = time.perf_counter()
                r = run(model, train_rows, args, out)
                r["wall"] = time.perf_counter() - started
                r["eval_loss"] = eval_loss(out, eval_rows, args.max_length)
                print(
                    f"{name:>5} round {round_index + 1}: {r['tokens_per_second']:8.1f} tok/s  "
                    f"loop {r['runtime']:6.1f} s  wall {r['wall']:6.1f} s  "
                    f"eval loss {r['eval_loss']:.4f}  (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                best = results.get(name)
                if best is None or r["tokens_per_second"] > best["tokens_per_second"]:
                    results[name] = r
    ours, trl = results["ours"], results["trl"]
    print(
        f"best tok/s: ours {ours['tokens_per_second']:.1f}, trl {trl['tokens_per_second']:.1f}, "
        f"ratio ours/trl {ours['tokens_per_second'] / trl['tokens_per_second']:.2f}; "
        f"eval loss ours {ours['eval_loss']:.4f} vs trl {trl['eval_loss']:.4f}",
        flush=True,
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=0, help="0: 20 for tiny, 4 for real models")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--eval_rows", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.0, help="0: 1e-3 for tiny, 2e-5 otherwise")
    args = parser.parse_args()
    for model in args.models.split(","):
        if model == "smollm2-135m-instruct":
            try:
                resolve_model(model)
            except RuntimeError as exc:
                print(f"skipping {model}: {exc}")
                continue
        model_args = argparse.Namespace(**vars(args))
        model_args.steps = args.steps or (20 if model == "tiny" else 4)
        model_args.lr = args.lr or (1e-3 if model == "tiny" else 2e-5)
        bench(model, model_args)


if __name__ == "__main__":
    main()
