"""PPO: our trainer vs TRL's RLOOTrainer, same policy, reward model, prompts and response length.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rloo.py                    # tiny model, a few minutes
    HF_HUB_OFFLINE=1 .venv/bin/python bench/rloo.py --model smollm2-135m-instruct --episodes 64 \
        --response_length 24 --lr 2e-5 --kl_coef 0.05 --ours 1@0.05 --rm_rankings 16 \
        --eval_prompts 8 --eval_samples 4 --threads 2 --rounds 2

Setup shared by both (built once per run, in a temporary folder):
- tiny: the policy is the tiny model after a short SFT on synthetic demonstrations that use the
  marker word "great" 0–2 times (as tests/engine/test_ppo.py does), so the policy can say it; the
  reward model is trained from the tiny model on synthetic rankings (more markers = better).
- SmolLM2-135M-Instruct: the policy is the instruct model itself; the reward model is trained
  from it on synthetic rankings (a reward model must tokenize as the policy does).

Ours: `train_ppo`, `rollouts_per_step` = RLOO's generation batch, `mini_batch_size` = RLOO's
per-device batch, `steps` such that both sample the same number of episodes (an episode is one
sampled response). TRL: `RLOOTrainer` with the same reward model folder loaded as a
sequence-classification model, k = `num_generations`, the same lr, β, temperature and
`max_completion_length`. Our reward model's folder also stores a constant `reward_bias` (the
normalising offset) that TRL does not read: a constant shift of every reward, which RLOO's
leave-one-out baseline cancels, so it does not change TRL's advantages.

Time: ours is the training loop (the sum of PPO's own `time/step_s`; loading the four models and
saving are left out), TRL's is `trainer.train()`. Both are split into generation (every
`generate()` call, timed by wrapping transformers' `GenerationMixin.generate` in this script
only), the rest of the rollout (log-probs of policy and reference, values, reward model: our
`rollout()`, TRL's `_generate_and_score_completions` minus generation) and training (the rest:
forward + backward + optimizer steps). Our reward-hacking watch is turned off (TRL has none).

Both final policies are then evaluated by the same function on held-out draws of prompts:
responses sampled at the training temperature, their mean score by our reward model
(`score_responses`) minus the starting policy's, and the KL to the starting policy (mean over
sampled tokens of log π − log π_ref, and its sum per response). Ours and TRL alternate for
`--rounds` rounds; each keeps its best time (the last round's policies are evaluated: the runs
are seeded).
"""

from __future__ import annotations

import argparse
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
from transformers.generation.utils import GenerationMixin  # noqa: E402

import training.engine.ppo as ppo  # noqa: E402
from training.engine.base_model import load_causal_lm, load_tokenizer, resolve_model  # noqa: E402
from training.engine.data import encode_prompt, prompt_to_messages, stop_token_ids  # noqa: E402
from training.engine.losses import token_logprobs  # noqa: E402
from training.engine.ppo_config import PPOConfig  # noqa: E402
from training.engine.ppo_rollout import left_pad, policy_forward, response_mask  # noqa: E402
from training.engine.reward import (  # noqa: E402
    RewardConfig,
    load_reward_model,
    reward_bias,
    score_responses,
    train_reward,
)
from training.engine.sft import SFTConfig, train_sft  # noqa: E402
from training.engine.synthetic import (  # noqa: E402
    prompt_for,
    synthetic_demonstrations,
    synthetic_rankings,
)

# ---------------------------------------------------------------------------------------------
# timing: generate() is wrapped once, for both trainers; a phase's seconds accumulate in CLOCK


CLOCK = {"generate": 0.0, "rollout": 0.0}


def timed_generate():
    plain = GenerationMixin.generate

    def generate(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return plain(self, *args, **kwargs)
        finally:
            CLOCK["generate"] += time.perf_counter() - t0

    GenerationMixin.generate = generate


def reset_clock():
    for key in CLOCK:
        CLOCK[key] = 0.0


# ---------------------------------------------------------------------------------------------
# setup


def setup_tiny(root: Path) -> tuple[str, str]:
    """(SFT policy folder, reward model folder) on the tiny model, as tests/engine/test_ppo.py."""
    from training.engine.tiny import tiny_model_dir

    base = str(tiny_model_dir())
    sft = SFTConfig(
        model=base,
        output_dir=str(root / "sft"),
        learning_rate=1e-2,
        epochs=1,
        max_steps=40,
        batch_size=16,
        max_length=48,
        warmup_ratio=0.05,
    )
    train_sft(sft, synthetic_demonstrations(640, seed=5, max_markers=2))
    rm = RewardConfig(
        model=base, output_dir=str(root / "rm"), lr=1e-3, warmup_steps=3, max_length=64
    )
    result = train_reward(rm, synthetic_rankings(160, 4, seed=0), synthetic_rankings(40, 4, seed=1))
    print(f"reward model: held-out accuracy {result['metrics']['eval/accuracy']:.3f}", flush=True)
    return sft.output_dir, rm.output_dir


def setup_smollm2(root: Path, model: str, rankings: int) -> tuple[str, str]:
    """(the instruct model itself, a reward model trained from it on synthetic rankings)."""
    rm = RewardConfig(
        model=model,
        output_dir=str(root / "rm"),
        lr=3e-5,
        max_length=128,
        rankings_per_batch=4,
        normalise_samples=64,  # the centring constant; 512 forwards cost minutes on a CPU
    )
    result = train_reward(
        rm, synthetic_rankings(rankings, 4, seed=0), synthetic_rankings(30, 4, seed=1)
    )
    print(f"reward model: held-out accuracy {result['metrics']['eval/accuracy']:.3f}", flush=True)
    return model, rm.output_dir


def trl_reading_gap(rm_dir: str) -> float:
    """Largest |TRL's reading of the reward model − ours (bias removed)| on a few rows: TRL
    renders prompt + completion with the chat template and reads the sequence-classification
    logit; the two must agree or TRL would be optimising another reward."""
    from trl.data_utils import apply_chat_template

    tok = load_tokenizer(rm_dir)
    model = load_reward_model(rm_dir).eval()
    model.config.pad_token_id = tok.pad_token_id
    rows = [(r["prompt"], r["responses"][0]) for r in synthetic_rankings(6, 4, seed=7)]
    texts = [
        apply_chat_template(
            {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": c}]},
            tok,
        )["text"]
        for p, c in rows
    ]
    batch = tok(
        text=texts,
        return_tensors="pt",
        padding=True,
        padding_side="right",
        add_special_tokens=False,
    )
    with torch.no_grad():
        theirs = model(**batch).logits[:, 0].tolist()
    bias = reward_bias(model)
    ours = score_responses(rm_dir, [p for p, _ in rows], [c for _, c in rows], device="cpu")
    return max(abs(t - (o - bias)) for t, o in zip(theirs, ours, strict=True))


# ---------------------------------------------------------------------------------------------
# the two trainers


def run_ours(args, policy, rm, prompts, out, kl_coef, ppo_epochs) -> dict:
    config = PPOConfig(
        policy=policy,
        reward_model=rm,
        output_dir=str(out),
        steps=args.episodes // args.generation_batch,
        rollouts_per_step=args.generation_batch,
        mini_batch_size=args.batch,
        ppo_epochs=ppo_epochs,
        response_length=args.response_length,
        temperature=args.temperature,
        lr=args.lr,
        kl_coef=kl_coef,
        watch_prompts=0,  # TRL has no reward-hacking watch
        save_every=0,  # TRL runs with save_strategy="no"
        save_every_minutes=0,
        seed=0,
    )
    plain_rollout = ppo.rollout

    def rollout(*a, **kw):
        t0 = time.perf_counter()
        try:
            return plain_rollout(*a, **kw)
        finally:
            CLOCK["rollout"] += time.perf_counter() - t0

    steps = []
    ppo.rollout = rollout
    reset_clock()
    try:
        t0 = time.perf_counter()
        ppo.train_ppo(config, prompts, callback=lambda s, t, m: steps.append(m["time/step_s"]))
        call = time.perf_counter() - t0
    finally:
        ppo.rollout = plain_rollout
    return {"wall": sum(steps), "call": call, **CLOCK}


def run_trl(args, policy, rm, prompts, out, kl_coef) -> dict:
    from datasets import Dataset
    from trl import RLOOConfig, RLOOTrainer

    class TimedRLOO(RLOOTrainer):
        def _generate_and_score_completions(self, inputs):
            t0 = time.perf_counter()
            try:
                return super()._generate_and_score_completions(inputs)
            finally:
                CLOCK["rollout"] += time.perf_counter() - t0

    tokenizer = load_tokenizer(resolve_model(policy))
    reward_tokenizer = load_tokenizer(rm)
    steps = args.episodes // args.batch  # one optimizer step per per-device batch
    config = RLOOConfig(
        output_dir=str(out),
        per_device_train_batch_size=args.batch,
        generation_batch_size=args.generation_batch,
        num_generations=args.k,
        max_completion_length=args.response_length,
        temperature=args.temperature,
        learning_rate=args.lr,
        beta=kl_coef,
        max_steps=steps,
        lr_scheduler_type="constant",  # ours keeps lr constant
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        disable_dropout=True,
        gradient_checkpointing=False,
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=steps,
        disable_tqdm=True,
        seed=0,
    )
    dataset = Dataset.from_list([{"prompt": prompt_to_messages(p)} for p in prompts])
    trainer = TimedRLOO(
        model=load_causal_lm(policy),
        reward_funcs=load_reward_model(rm),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizer,
    )
    reset_clock()
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    return {"wall": wall, "call": wall, **CLOCK}


# ---------------------------------------------------------------------------------------------
# the same evaluation for both


@torch.no_grad()
def evaluate(policy_dir, start, rm, prompts, args) -> dict:
    """Mean RM score of sampled answers, KL to `start` per token and per answer, mean length."""
    tok = load_tokenizer(resolve_model(start))
    ref = load_causal_lm(start).eval()
    policy = load_causal_lm(policy_dir).eval()
    stop_ids = stop_token_ids(ref, tok)  # the starting policy's, for every policy evaluated
    pad = tok.pad_token_id
    asked = [p for p in prompts for _ in range(args.eval_samples)]
    texts, kl_sum, tokens = [], 0.0, 0
    torch.manual_seed(1234)
    for i in range(0, len(asked), 32):
        chunk = [encode_prompt(tok, prompt_to_messages(p)) for p in asked[i : i + 32]]
        query, query_mask = left_pad(chunk, pad)
        P = query.size(1)
        generated = policy.generate(
            input_ids=query,
            attention_mask=query_mask,
            do_sample=True,
            temperature=args.temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=args.response_length,
            pad_token_id=pad,
            eos_token_id=stop_ids or None,
        )
        responses = generated[:, P:]
        mask = response_mask(responses, stop_ids)
        responses = responses.masked_fill(mask == 0, pad)
        ids, full_mask = torch.cat([query, responses], 1), torch.cat([query_mask, mask], 1)
        logp = token_logprobs(
            policy_forward(policy, ids, full_mask, P, args.temperature), responses
        )
        logp_ref = token_logprobs(
            policy_forward(ref, ids, full_mask, P, args.temperature), responses
        )
        kl_sum += ((logp - logp_ref) * mask).sum().item()
        tokens += int(mask.sum().item())
        for row, m in zip(responses.tolist(), mask.tolist(), strict=True):
            kept = [t for t, keep in zip(row, m, strict=True) if keep and t not in stop_ids]
            texts.append(tok.decode(kept, skip_special_tokens=True))
    scores = score_responses(rm, asked, texts, device="cpu")
    return {
        "score": sum(scores) / len(scores),
        "kl_token": kl_sum / max(tokens, 1),
        "kl_answer": kl_sum / len(asked),
        "length": tokens / len(asked),
    }


# ---------------------------------------------------------------------------------------------


def row(name, episodes, t, ev, start):
    gain = ev["score"] - start["score"]
    split = f"{100 * t['generate'] / t['wall']:.0f} / {100 * (t['rollout'] - t['generate']) / t['wall']:.0f} / {100 * (t['wall'] - t['rollout']) / t['wall']:.0f}"  # noqa: E501
    return gain / t["wall"], (
        f"| {name} | {episodes} | {t['wall']:.1f} | {1000 * t['wall'] / episodes:.1f} | {split} "
        f"| {gain:+.3f} | {ev['kl_token']:.3f} / {ev['kl_answer']:.2f} "
        f"| {gain / max(ev['kl_answer'], 1e-6):.2f} | {gain / t['wall']:.4f} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--episodes", type=int, default=512, help="sampled responses per run")
    parser.add_argument("--k", type=int, default=4, help="RLOO's num_generations")
    parser.add_argument("--generation_batch", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="rollouts per optimizer step")
    parser.add_argument("--response_length", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--kl_coef", type=float, default=0.1, help="TRL's β")
    parser.add_argument(
        "--ours",
        default="4@0.1,1@0.1",
        help="our runs, comma-separated PPO_EPOCHS@β (another β brackets TRL's KL)",
    )
    parser.add_argument("--rm_rankings", type=int, default=40, help="SmolLM2's reward model")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--eval_prompts", type=int, default=64)
    parser.add_argument("--eval_samples", type=int, default=4, help="answers per eval prompt")
    parser.add_argument("--rounds", type=int, default=2, help="alternate; keep each one's best")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.episodes % args.generation_batch or args.generation_batch % args.batch:
        parser.error("episodes must be a multiple of generation_batch, and that of batch")
    torch.set_num_threads(args.threads)
    timed_generate()
    rng = random.Random(0)
    prompts = [prompt_for(rng) for _ in range(args.prompts)]
    rng = random.Random(1)
    eval_prompts = [prompt_for(rng) for _ in range(args.eval_prompts)]
    variants = [(int(e), float(b)) for e, b in (v.split("@") for v in args.ours.split(","))]
    names = {v: f"ours PPO {v[0]} epoch{'s' * (v[0] > 1)} β={v[1]}" for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        if args.model == "tiny":
            policy, rm = setup_tiny(root)
        else:
            policy, rm = setup_smollm2(root, str(resolve_model(args.model)), args.rm_rankings)
        print(f"setup {time.perf_counter() - t0:.0f} s", flush=True)
        print(f"TRL's reading of the RM vs ours: max |diff| {trl_reading_gap(rm):.2e}", flush=True)
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for epochs, beta in variants:
                out = root / f"ours_{epochs}_{beta}"
                t = run_ours(args, policy, rm, prompts, out, beta, epochs)
                key = names[epochs, beta]
                print(f"{key}: {t}", flush=True)
                if key not in best or t["wall"] < best[key]["wall"]:
                    best[key] = t
            t = run_trl(args, policy, rm, prompts, root / "trl", args.kl_coef)
            print(f"TRL: {t}", flush=True)
            if "TRL" not in best or t["wall"] < best["TRL"]["wall"]:
                best["TRL"] = t
        start = evaluate(policy, policy, rm, eval_prompts, args)
        evals = {
            names[e, b]: evaluate(root / f"ours_{e}_{b}", policy, rm, eval_prompts, args)
            for e, b in variants
        }
        evals["TRL"] = evaluate(root / "trl", policy, rm, eval_prompts, args)
    print(f"start policy: {start}")
    for key, ev in evals.items():
        print(f"{key}: {ev}")
    print(
        f"\n## {args.model}: ours (PPO) vs TRL RLOOTrainer "
        f"(k = {args.k}, β = {args.kl_coef}, {args.response_length} tokens)"
    )
    print(
        "| trainer | episodes | wall s | s / 1k episodes | gen / other rollout / train % "
        "| RM gain | KL per token / per answer | gain / KL | gain per wall-s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    per_second = {}
    for key, ev in evals.items():
        per_second[key], line = row(
            f"TRL RLOO k={args.k} β={args.kl_coef}" if key == "TRL" else key,
            args.episodes,
            best[key],
            ev,
            start,
        )
        print(line)
    for key in evals:
        if key != "TRL":
            ratio = per_second[key] / per_second["TRL"] if per_second["TRL"] > 0 else float("nan")
            print(f"{key} / TRL, RM gain per wall-second: {ratio:.2f}x")
    for key, t in best.items():
        print(f"{key}: whole call {t['call']:.1f} s (ours: loading and saving included)")


if __name__ == "__main__":
    main()
