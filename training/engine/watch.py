"""The reward-hacking watch of a PPO run.

PPO optimises a proxy: the reward model. Pushed far enough, the policy finds what the proxy
over-rewards (InstructGPT and its seed notes saw very long answers and repetitive
boilerplate) and the proxy's score keeps rising while real quality falls (Gao et al., 2022).
So every `watch_every` steps the policy answers a fixed set of held-out prompts, greedily,
and we compare with the SFT model's answers to the same prompts:

    watch/length_ratio   mean answer length, policy / SFT
    watch/rm_score       the proxy RM's mean score of the policy's held-out answers
    watch/gold_score     a second ("gold") RM's, trained on a disjoint half of the rankings

and the rollouts' `objective/kl`. Alarms (`alarm_values`) are raised once per kind:

    length             length_ratio > length_alarm_ratio
    kl                 objective/kl > kl_alarm
    over_optimisation  proxy above its first value while gold fell > gold_drop_alarm from its best

and the config's stop rules (`stop_reason`) end the run early, keeping the policy it has.
The rules are plain functions of the numbers, so they are tested on hand-made series; this
module is torch-free, so the platform reads alarms with it (the looks themselves are
ppo_rollout.answer_and_score).
"""

from __future__ import annotations

import random

ALARMS = ("length", "kl", "over_optimisation")


def held_out(prompts: list, n: int, seed: int) -> tuple[list, list]:
    """(rollout prompts, watch prompts): ``n`` prompts set aside by a seeded draw, so the
    policy is never trained on the prompts that watch it. With fewer than 2n prompts the watch
    uses n of them without setting them aside (a tiny run still gets its numbers)."""
    if n <= 0:
        return prompts, []
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    watch = [prompts[i] for i in order[:n]]
    if len(prompts) < 2 * n:
        return prompts, watch
    kept = set(order[n:])
    return [p for i, p in enumerate(prompts) if i in kept], watch


def watch_metrics(policy_look, sft_look) -> dict[str, float]:
    """The watch/* metrics of one look, from (length, [proxy, gold?]) of policy and SFT."""
    length, scores = policy_look
    sft_length, sft_scores = sft_look
    metrics = {
        "watch/mean_length": length,
        "watch/sft_mean_length": sft_length,
        "watch/length_ratio": length / max(sft_length, 1e-9),
        "watch/rm_score": scores[0],
        "watch/rm_score_sft": sft_scores[0],
    }
    if len(scores) > 1:
        metrics["watch/gold_score"] = scores[1]
        metrics["watch/gold_score_sft"] = sft_scores[1]
    return metrics


def gold_drop(history: list[dict[str, float]]) -> float | None:
    """How far the gold score has fallen below its best while the proxy score is above its
    first value; None without a gold RM, 0 while the proxy has not risen."""
    looks = [h for h in history if "watch/gold_score" in h]
    if not looks:
        return None
    if looks[-1]["watch/rm_score"] <= looks[0]["watch/rm_score"]:
        return 0.0
    return max(h["watch/gold_score"] for h in looks) - looks[-1]["watch/gold_score"]


def alarm_values(metrics: dict[str, float], history: list[dict], config) -> dict[str, float]:
    """{kind: the value that raised it} of this step's alarms (history: the looks so far,
    this one included)."""
    raised = {}
    ratio = metrics.get("watch/length_ratio")
    if ratio is not None and ratio > config.length_alarm_ratio:
        raised["length"] = ratio
    if metrics.get("objective/kl", 0.0) > config.kl_alarm:
        raised["kl"] = metrics["objective/kl"]
    drop = gold_drop(history)
    if drop is not None and drop > config.gold_drop_alarm:
        raised["over_optimisation"] = drop
    return raised


def stop_reason(metrics: dict[str, float], history: list[dict], config) -> str | None:
    """Why the config's stop rules end the run at this step, or None."""
    kl = metrics.get("objective/kl", 0.0)
    if config.stop_if_kl_above is not None and kl > config.stop_if_kl_above:
        return f"kl {kl:.3g} > stop_if_kl_above {config.stop_if_kl_above:g}"
    ratio = metrics.get("watch/length_ratio")
    limit = config.stop_if_length_ratio_above
    if limit is not None and ratio is not None and ratio > limit:
        return f"length ratio {ratio:.3g} > stop_if_length_ratio_above {limit:g}"
    drop = gold_drop(history)
    if (
        config.stop_if_gold_drops is not None
        and drop is not None
        and drop > config.stop_if_gold_drops
    ):
        limit = config.stop_if_gold_drops
        return f"gold score fell {drop:.3g} while the proxy rose (> stop_if_gold_drops {limit:g})"
    return None


def alarm_message(kind: str, value: float, config) -> str:
    """What an alarm says, from its kind and value (a job page or `job show` prints it)."""
    if kind == "length":
        limit = config.length_alarm_ratio
        return f"answers are {value:.2f}× the SFT model's length (alarm above {limit:g}×)"
    if kind == "kl":
        return f"KL to the SFT model is {value:.3g} nats (alarm above {config.kl_alarm:g})"
    return f"over-optimisation: the gold RM's score fell {value:.3g} while the proxy's rose"


def raise_alarms(step: int, metrics: dict, history: list[dict], alarms: list[dict], config):
    """Append this step's alarms of kinds not raised before (each kind once) to ``alarms``,
    and log each as ``alarm/<kind>`` = the value that raised it."""
    for kind, value in alarm_values(metrics, history, config).items():
        if any(alarm["kind"] == kind for alarm in alarms):
            continue
        metrics[f"alarm/{kind}"] = value
        alarms.append({"step": step, "kind": kind, "message": alarm_message(kind, value, config)})
