"""DPO: our K-way trainer vs TRL's DPOTrainer, same backbone, same rankings, same β and lr.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/dpo.py                     # tiny model, K = 4
    HF_HUB_OFFLINE=1 .venv/bin/python bench/dpo.py --model smollm2-135m-instruct --rankings 16 \
        --eval 16 --lr 5e-6 --rounds 1                                  # SmolLM2-135M, short

Ours: one ranking of K = one batch element, the prompt encoded once and the K responses
forwarded once; reference log-probs computed once before the loop (included in our time);
loss = mean over the C(K,2) ordered pairs. TRL: the same rankings flattened into C(K,2)
(prompt, chosen, rejected) rows, one ranking's pairs per optimizer step (batch C(K,2),
sequential order), i.e. 2·C(K,2) sequences through the policy per step, and as many through
the reference model (TRL's default: no precomputed reference).

Our time is the whole `train_dpo` call (loading, reference pass, loop, save); TRL's is
`trainer.train()` only (its model loading and tokenisation happen before), so the ratio
leans towards TRL. Both final policies are scored by the same function: held-out preference
accuracy of the implicit reward β·(log π − log π_ref), π_ref being the starting model.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from reward import trl_pairs  # noqa: E402

from training.engine.base_model import load_causal_lm, load_tokenizer, resolve_model  # noqa: E402
from training.engine.dpo import DPOConfig, logprobs_of, train_dpo  # noqa: E402
from training.engine.reward import batch_order, has_pairs  # noqa: E402
from training.engine.reward_packing import encode_ranking  # noqa: E402
from training.engine.synthetic import synthetic_rankings  # noqa: E402


def held_out_scores(model_dir, start_model, rows, beta, max_length):
    """(accuracy, mean margin) of β·(log π − log π_ref) over held-out ordered pairs."""
    tokenizer = load_tokenizer(resolve_model(start_model))
    encoded = [
        r for r in (encode_ranking(tokenizer, row, max_length) for row in rows) if has_pairs(r)
    ]
    pad = tokenizer.pad_token_id
    reference = logprobs_of(load_causal_lm(start_model), encoded, "shared", 8, pad)
    policy = logprobs_of(load_causal_lm(model_dir), encoded, "shared", 8, pad)
    correct = total = 0
    margin = 0.0
    for ranking, pol, ref in zip(encoded, policy, reference, strict=True):
        h = [p - r for p, r in zip(pol, ref, strict=True)]
        for w, rw in enumerate(ranking.ranks):
            for lo, rl in enumerate(ranking.ranks):
                if rw < rl:
                    diff = beta * (h[w] - h[lo])
                    correct += diff > 0
                    margin += diff
                    total += 1
    return correct / max(total, 1), margin / max(total, 1)


def ours(model, train, lr, beta, max_length, out, seed=0):
    config = DPOConfig(
        model=str(model),
        output_dir=str(out),
        lr=lr,
        beta=beta,
        rankings_per_batch=1,
        max_length=max_length,
        seed=seed,
        save_every=0,  # TRL runs with save_strategy="no"
        save_every_minutes=0,
    )
    t0 = time.perf_counter()
    train_dpo(config, train)
    return time.perf_counter() - t0


def trl(model, train, lr, beta, max_length, out, k, seed=0):
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    class OneRankingPerStep(DPOTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    # the rankings in the order ours visits them, so step n of both trainers is one ranking
    train = [train[i] for (i,) in batch_order(len(train), 1, 1, seed)]
    path = resolve_model(model)
    tokenizer = load_tokenizer(path)
    policy = load_causal_lm(path)
    args = TRLDPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=math.comb(k, 2),
        num_train_epochs=1,
        learning_rate=lr,
        beta=beta,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_length=max_length,
        gradient_checkpointing=False,
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=seed,
    )
    trainer = OneRankingPerStep(
        model=policy,
        args=args,
        train_dataset=Dataset.from_list(trl_pairs(train)),
        processing_class=tokenizer,
    )
    t0 = time.perf_counter()
    trainer.train()
    runtime = time.perf_counter() - t0
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    return runtime


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--rankings", type=int, default=96)
    parser.add_argument("--eval", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="alternate; keep each one's best")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = str(resolve_model(args.model)) if args.model != "tiny" else args.model
    if args.model == "tiny":
        from training.engine.tiny import tiny_model_dir

        model = str(tiny_model_dir())
    train = synthetic_rankings(args.rankings, args.k, seed=0)
    held_out = synthetic_rankings(args.eval, args.k, seed=1)
    t_ours = t_trl = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            run = (model, train, args.lr, args.beta, args.max_length)
            t_ours = min(t_ours, ours(*run, tmp + "/ours"))
            t_trl = min(t_trl, trl(*run, tmp + "/trl", args.k))
        acc_ours, margin_ours = held_out_scores(
            tmp + "/ours", model, held_out, args.beta, args.max_length
        )
        acc_trl, margin_trl = held_out_scores(
            tmp + "/trl", model, held_out, args.beta, args.max_length
        )
    pairs = args.rankings * math.comb(args.k, 2)
    print(f"## {args.model}: ours (K-way DPO, shared prompt) vs TRL DPOTrainer (pairs)")
    print(
        "| K | rankings | pairs | ours s | TRL s | speed-up | ours acc | TRL acc "
        "| ours margin | TRL margin |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.k} | {args.rankings} | {pairs} | {t_ours:.1f} | {t_trl:.1f} "
        f"| {t_trl / t_ours:.2f}x | {acc_ours:.3f} | {acc_trl:.3f} "
        f"| {margin_ours:.3f} | {margin_trl:.3f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
