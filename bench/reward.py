"""Reward-model training: our K-way trainer vs TRL's RewardTrainer, same backbone, same rankings.

    .venv/bin/python bench/reward.py                      # tiny model, K = 4 and 9, + real data
    .venv/bin/python bench/reward.py --model smollm2-135m-instruct --rankings 4 --eval 6 \
        --lr 3e-5 --threads 2 --no_real --rounds 3      # SmolLM2-135M end to end, ~10 min

Ours: one ranking of K = one batch element, K responses forwarded once, the prompt once
(`share_prompt`), loss = mean over the C(K,2) ordered pairs. TRL: the same rankings flattened
into C(K,2) (prompt, chosen, rejected) rows, one ranking's pairs per optimizer step (batch size
C(K,2), sequential order so a step holds exactly one ranking), i.e. 2·C(K,2) sequence forwards
per ranking. Same learning rate and schedule (cosine to 10%), fp32, no gradient checkpointing.
Wall time is the optimisation loop only (TRL: trainer.train(); ours: the loop inside train_reward).

Real data (when ../shared/data exists): held-out pairwise accuracy of our trainer on the
Open-Assistant K-way rankings and on HH-RLHF pairs, beside the length baselines. On CPU these use
small subsets (see --real_train / --real_eval) and are bounded by --max_length.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from training.engine.base_model import load_tokenizer, resolve_model  # noqa: E402
from training.engine.reward import (  # noqa: E402
    RewardConfig,
    batch_order,
    pairwise_accuracy,
    train_reward,
)
from training.engine.synthetic import synthetic_rankings  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def ours(model, train, held_out, lr, max_length, out, seed=0):
    config = RewardConfig(
        model=str(model),
        output_dir=str(out),
        lr=lr,
        rankings_per_batch=1,
        max_length=max_length,
        share_prompt=True,
        seed=seed,
        # TRL runs with save_strategy="no": neither side writes resumable state
        save_every=0,
        save_every_minutes=0,
    )
    result = train_reward(config, train, held_out)
    return result["metrics"]["train/runtime"], result["metrics"]["eval/accuracy"]


def as_messages(prompt):
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def trl_pairs(rows):
    """Each ranking's strictly ordered pairs as TRL conversational rows, ranking by ranking."""
    pairs = []
    for row in rows:
        for i, wi in enumerate(row["ranks"]):
            for j, wj in enumerate(row["ranks"]):
                if wi < wj:
                    pairs.append(
                        {
                            "prompt": as_messages(row["prompt"]),
                            "chosen": [{"role": "assistant", "content": row["responses"][i]}],
                            "rejected": [{"role": "assistant", "content": row["responses"][j]}],
                        }
                    )
    return pairs


def trl(model, train, held_out, lr, max_length, out, k, seed=0):
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    class OneRankingPerStep(RewardTrainer):
        # TRL shuffles pairs by default; keeping the order makes every step one whole ranking
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    # the rankings in the order ours visits them (its seeded shuffle), so step n of both trainers
    # is the same ranking
    train = [train[i] for (i,) in batch_order(len(train), 1, 1, seed)]
    path = resolve_model(model)
    tokenizer = load_tokenizer(path)
    # the same seed ours sets before loading, so both start from the same random scalar head
    torch.manual_seed(seed)
    rm = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    rm.config.pad_token_id = tokenizer.pad_token_id
    args = TRLRewardConfig(
        output_dir=str(out),
        per_device_train_batch_size=math.comb(k, 2),
        num_train_epochs=1,
        learning_rate=lr,
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
        model=rm,
        args=args,
        train_dataset=Dataset.from_list(trl_pairs(train)),
        processing_class=tokenizer,
    )
    t0 = time.perf_counter()
    trainer.train()
    runtime = time.perf_counter() - t0
    # held-out accuracy, each pair scored the way TRL tokenizes it (its own chat rendering)
    rm.eval()
    correct = total = 0
    with torch.no_grad():
        for pair in trl_pairs(held_out):
            scores = []
            for side in ("chosen", "rejected"):
                ids = tokenizer.apply_chat_template(
                    pair["prompt"] + pair[side], return_tensors="pt"
                )
                scores.append(rm(input_ids=ids[:, -max_length:].to(rm.device)).logits.item())
            correct += scores[0] > scores[1]
            total += 1
    return runtime, correct / max(total, 1)


def versus(args):
    print(f"## {args.model}: ours (K-way, shared prompt) vs TRL RewardTrainer (pairs)")
    print("| K | seed | rankings | pairs | ours s | TRL s | speed-up | ours acc | TRL acc |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for k in args.ks:
        # per seed: its own training and held-out rankings and its own head initialisation, so
        # the seeds together show how much of an accuracy gap is run-to-run noise
        accuracies = []  # (ours, TRL) per seed; every seed holds out the same number of pairs
        for seed in range(args.seeds):
            train = synthetic_rankings(args.rankings, k, seed=2 * seed, max_words=args.max_words)
            held_out = synthetic_rankings(args.eval, k, seed=2 * seed + 1, max_words=args.max_words)
            # the two alternate for --rounds rounds and each keeps its best time, so a burst of
            # load from other processes on a shared machine does not decide the ratio
            t_ours = t_trl = float("inf")
            for _ in range(args.rounds):
                with tempfile.TemporaryDirectory() as tmp:
                    run = (args.model, train, held_out, args.lr, args.max_length)
                    t, acc_ours = ours(*run, tmp + "/o", seed=seed)
                    t_ours = min(t_ours, t)
                    t, acc_trl = trl(*run, tmp + "/t", k, seed=seed)
                    t_trl = min(t_trl, t)
            pairs = len(train) * math.comb(k, 2)
            accuracies.append((acc_ours, acc_trl))
            print(
                f"| {k} | {seed} | {len(train)} | {pairs} | {t_ours:.1f} | {t_trl:.1f} "
                f"| {t_trl / t_ours:.2f}x | {acc_ours:.3f} | {acc_trl:.3f} |",
                flush=True,
            )
        if args.seeds > 1:
            n = len(accuracies)
            diffs = [o - t for o, t in accuracies]
            mean = sum(diffs) / n
            se = (sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) ** 0.5
            pooled_ours = sum(o for o, _ in accuracies) / n
            pooled_trl = sum(t for _, t in accuracies) / n
            print(
                f"| {k} | all {n} | | | | | | {pooled_ours:.3f} | {pooled_trl:.3f} |\n"
                f"K = {k}: ours − TRL held-out accuracy over {n} seeds: {mean:+.3f} "
                f"(standard error {se:.3f})",
                flush=True,
            )


def compute_only(args):
    """Forward + backward of the loss for the same rankings: ours (one shared-prompt row per
    ranking) vs the pair layout TRL trains on (2·C(K,2) padded sequences per ranking). No
    optimizer step: this is the part of a step that the layout changes."""
    from training.engine.losses import kway_bradley_terry_loss_batched
    from training.engine.reward import load_reward_model
    from training.engine.reward_packing import (
        EncodedRanking,
        build_batch,
        encode_ranking,
        forward_rewards,
    )

    path = resolve_model(args.compute_model)
    tokenizer = load_tokenizer(path)
    model = load_reward_model(path)
    pad = tokenizer.pad_token_id
    print(f"\n## forward + backward only, {args.compute_model}, {args.compute_rankings} rankings")
    print("| K | ours s | pairs s | ratio | ceiling 2·C(K,2)/K |")
    print("| --- | --- | --- | --- | --- |")
    for k in args.ks:
        rows = synthetic_rankings(args.compute_rankings, k, seed=2, max_words=args.max_words)
        encoded = [encode_ranking(tokenizer, row, args.max_length) for row in rows]
        times = {"ours": 0.0, "pairs": 0.0}
        for e in encoded:
            win_lose = [(i, j) for i in range(k) for j in range(k) if e.ranks[i] < e.ranks[j]]
            pairs = [
                EncodedRanking(e.prompt_ids, [e.response_ids[i], e.response_ids[j]], [1, 2])
                for i, j in win_lose
            ]
            for name, batch in (
                ("ours", build_batch([e], "shared", pad)),
                ("pairs", build_batch(pairs, "padded", pad)),
            ):
                t0 = time.perf_counter()
                loss, _ = kway_bradley_terry_loss_batched(
                    forward_rewards(model, batch), batch.ranks, batch.mask
                )
                loss.backward()
                times[name] += time.perf_counter() - t0
                model.zero_grad(set_to_none=True)
        ceiling = 2 * math.comb(k, 2) / k
        print(
            f"| {k} | {times['ours']:.2f} | {times['pairs']:.2f} "
            f"| {times['pairs'] / times['ours']:.2f}x | {ceiling:.1f}x |",
            flush=True,
        )


def oasst_rows():
    with gzip.open(DATA / "oasst-en-100-assistant-rankings.jsonl.gz", "rt") as f:
        raw = [json.loads(line) for line in f]
    return [
        {
            "prompt": [{"role": m["role"], "content": m["text"]} for m in r["conversation"]],
            "responses": r["responses"],
            "ranks": [rank + 1 for rank in r["ranks"]],  # 0 = best there, 1 = best here
        }
        for r in raw
    ]


def parse_hh(text):
    turns = []
    for chunk in text.split("\n\n")[1:] if text.startswith("\n\n") else text.split("\n\n"):
        for role, tag in (("user", "Human: "), ("assistant", "Assistant: ")):
            if chunk.startswith(tag):
                turns.append({"role": role, "content": chunk[len(tag) :]})
                break
        else:
            if turns:
                turns[-1]["content"] += "\n\n" + chunk
    return turns


def hh_rows():
    rows = []
    with gzip.open(DATA / "hh-rlhf-harmless-base-test.jsonl.gz", "rt") as f:
        for line in f:
            r = json.loads(line)
            chosen, rejected = parse_hh(r["chosen"]), parse_hh(r["rejected"])
            if not chosen or chosen[:-1] != rejected[:-1] or chosen[-1]["role"] != "assistant":
                continue  # the few rows that differ before the last reply
            rows.append(
                {
                    "prompt": chosen[:-1],
                    "chosen": chosen[-1]["content"],
                    "rejected": rejected[-1]["content"],
                }
            )
    return rows


def length_baseline(rows, longer: bool) -> float:
    """Share of ordered pairs where the longer (or shorter) response is the better one."""
    right = total = 0
    for row in rows:
        if "chosen" in row:
            a, b = len(row["chosen"]), len(row["rejected"])
            right, total = right + ((a > b) if longer else (a < b)), total + 1
            continue
        for i, ri in enumerate(row["ranks"]):
            for j, rj in enumerate(row["ranks"]):
                if ri < rj:
                    a, b = len(row["responses"][i]), len(row["responses"][j])
                    right, total = right + ((a > b) if longer else (a < b)), total + 1
    return right / max(total, 1)


def ordered_pairs(rows):
    """Every row as (prompt, chosen, rejected) rows: a ranking's strictly ordered pairs."""
    pairs = []
    for row in rows:
        if "chosen" in row:
            pairs.append(row)
            continue
        for i, ri in enumerate(row["ranks"]):
            for j, rj in enumerate(row["ranks"]):
                if ri < rj:
                    pairs.append(
                        {
                            "prompt": row["prompt"],
                            "chosen": row["responses"][i],
                            "rejected": row["responses"][j],
                        }
                    )
    return pairs


def length_matched(pairs, within: float):
    """The pairs whose two responses' lengths (characters) differ by at most `within` of the
    longer one: there length cannot tell the better reply."""
    return [
        p
        for p in pairs
        if abs(len(p["chosen"]) - len(p["rejected"]))
        <= within * max(len(p["chosen"]), len(p["rejected"]))
    ]


def real(args):
    if not DATA.exists():
        print(f"(no {DATA}: real-data accuracy skipped)")
        return
    print(f"\n## real data, {args.real_model}, max_length {args.max_length}")
    print(
        "| data | train | held-out | pairs held out | ours acc | length baseline "
        f"| length-matched (±{args.matched:.0%}) pairs: n, ours acc, length baseline | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rows, longer in (
        ("OASST K-way", oasst_rows(), True),
        ("HH-RLHF pairs", hh_rows(), False),
    ):
        rows = rows[: args.real_train + args.real_eval]
        train, held_out = rows[: args.real_train], rows[args.real_train :]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = train_reward(
                RewardConfig(
                    model=str(args.real_model),
                    output_dir=tmp,
                    lr=args.real_lr,
                    rankings_per_batch=4,
                    max_length=args.max_length,
                    save_every=0,  # as TRL's save_strategy="no"
                    save_every_minutes=0,
                ),
                train,
                held_out,
            )
            seconds = time.perf_counter() - t0
            matched = length_matched(ordered_pairs(held_out), args.matched)
            on_matched = pairwise_accuracy(tmp, matched, max_length=args.max_length)
        m = result["metrics"]
        baseline = length_baseline(held_out, longer)
        kind = "longer" if longer else "shorter"
        print(
            f"| {name} | {len(train)} | {len(held_out)} | {int(m['eval/pairs'])} "
            f"| {m['eval/accuracy']:.3f} | {kind} wins {baseline:.3f} "
            f"| {len(matched)}, {on_matched['eval/accuracy']:.3f}, "
            f"{kind} wins {length_baseline(matched, longer):.3f} | {seconds:.0f} |",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--ks", default="4,9", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--rankings", type=int, default=48, help="training rankings per K")
    parser.add_argument("--eval", type=int, default=40, help="held-out rankings per K")
    parser.add_argument("--max_words", type=int, default=7, help="filler words per response")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0 = torch's default); 1 is fastest for the tiny model and on a "
        "shared machine, where threads mostly wait on each other",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternations; best time kept")
    parser.add_argument(
        "--seeds", type=int, default=1, help="independent runs (data + head initialisation)"
    )
    parser.add_argument("--no_versus", action="store_true")
    parser.add_argument("--compute_model", default="", help="also time forward+backward only")
    parser.add_argument("--compute_rankings", type=int, default=4)
    parser.add_argument("--no_real", action="store_true")
    parser.add_argument("--real_model", default="tiny")
    parser.add_argument("--real_train", type=int, default=150)
    parser.add_argument("--real_eval", type=int, default=62)
    parser.add_argument("--real_lr", type=float, default=1e-5)
    parser.add_argument(
        "--matched", type=float, default=0.2, help="length-matched: lengths within this share"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch threads: {torch.get_num_threads()}, device: {device}")
    if not args.no_versus:
        versus(args)
    if args.compute_model:
        compute_only(args)
    if not args.no_real:
        real(args)


if __name__ == "__main__":
    main()
