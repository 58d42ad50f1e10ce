"""The reward-hacking watch: its rules on hand-made numbers, and a tiny PPO run against a
reward model that loves length, which raises the length alarm and, with the stop rule set,
stops the run."""

import random

import pytest
import torch

from training.engine import watch
from training.engine.ppo import PPOConfig, train_ppo
from training.engine.reward import RewardConfig, train_reward
from training.engine.sft import SFTConfig, train_sft
from training.engine.synthetic import prompt_for, ranks_from_counts, response_with


def config(**kw):
    return PPOConfig(reward_model="rm", **kw)


# --- the rules --------------------------------------------------------------------------------


def test_held_out_prompts_are_set_aside_by_a_seeded_draw():
    prompts = list(range(20))
    kept, held = watch.held_out(prompts, 4, seed=1)
    assert len(held) == 4 and len(kept) == 16 and not set(held) & set(kept)
    assert watch.held_out(prompts, 4, seed=1) == (kept, held)
    few, held = watch.held_out(list(range(6)), 4, seed=1)  # too few to spare: shared
    assert few == list(range(6)) and len(held) == 4
    assert watch.held_out(prompts, 0, seed=1) == (prompts, [])


def test_watch_metrics_compare_with_the_sft_model():
    metrics = watch.watch_metrics((30.0, [1.5, 0.2]), (20.0, [0.5, 0.4]))
    assert metrics["watch/length_ratio"] == 1.5
    assert metrics["watch/rm_score"] == 1.5 and metrics["watch/rm_score_sft"] == 0.5
    assert metrics["watch/gold_score"] == 0.2 and metrics["watch/gold_score_sft"] == 0.4
    assert "watch/gold_score" not in watch.watch_metrics((30.0, [1.5]), (20.0, [0.5]))


def look(proxy, gold, kl=1.0, ratio=1.0):
    return {
        "watch/rm_score": proxy,
        "watch/gold_score": gold,
        "objective/kl": kl,
        "watch/length_ratio": ratio,
    }


def test_over_optimisation_is_proxy_up_while_gold_falls():
    history = [look(0.0, 0.0), look(0.5, 0.3), look(1.0, 0.25), look(1.5, 0.1)]
    assert watch.gold_drop(history[:2]) == 0.0  # gold at its best
    assert watch.gold_drop(history) == pytest.approx(0.2)  # best 0.3, now 0.1, proxy up
    falling_proxy = history + [look(-0.1, 0.1)]
    assert watch.gold_drop(falling_proxy) == 0.0  # the proxy is not rising: not this
    assert watch.gold_drop([{"watch/rm_score": 1.0}]) is None  # no gold RM


def test_alarms_and_stop_rules_on_hand_made_numbers():
    cfg = config(length_alarm_ratio=1.5, kl_alarm=8.0, gold_drop_alarm=0.1)
    history = [look(0.0, 0.0), look(1.0, 0.3), look(2.0, 0.15, kl=9.0, ratio=1.6)]
    assert watch.alarm_values(history[-1], history, cfg) == {
        "length": 1.6,
        "kl": 9.0,
        "over_optimisation": pytest.approx(0.15),
    }
    assert watch.alarm_values(history[1], history[:2], cfg) == {}
    assert watch.stop_reason(history[-1], history, cfg) is None  # no stop rule set
    assert "stop_if_kl_above" in watch.stop_reason(
        history[-1], history, config(stop_if_kl_above=8.5)
    )
    stop = config(stop_if_length_ratio_above=1.55)
    assert watch.stop_reason(history[-1], history, stop).startswith("length ratio 1.6")
    gold = config(gold_reward_model="gold", stop_if_gold_drops=0.1)
    assert "gold score fell 0.15" in watch.stop_reason(history[-1], history, gold)


def test_each_alarm_kind_is_raised_once():
    cfg = config(length_alarm_ratio=1.5)
    alarms = []
    for step in (1, 2):
        metrics = look(0.0, 0.0, ratio=1.7)
        watch.raise_alarms(step, metrics, [metrics], alarms, cfg)
    assert [(a["step"], a["kind"]) for a in alarms] == [(1, "length")]
    assert "1.70× the SFT model's length" in alarms[0]["message"]


def test_a_stop_on_gold_needs_a_gold_reward_model():
    with pytest.raises(ValueError, match="stop_if_gold_drops: needs gold_reward_model"):
        config(stop_if_gold_drops=0.1)
    with pytest.raises(ValueError, match="watch_every"):
        config(watch_every=0)


# --- a run against a reward model that loves length -------------------------------------------


@pytest.fixture(scope="module")
def length_lover(tiny_model_path, tmp_path_factory):
    """An SFT model that answers in 3–7 words, and a reward model trained on rankings where the
    longer answer always wins."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model's ops are too small to split
    root = tmp_path_factory.mktemp("watch")
    rng = random.Random(0)
    train_sft(
        SFTConfig(
            model=str(tiny_model_path), output_dir=str(root / "sft"), learning_rate=1e-2,
            epochs=1, max_steps=40, batch_size=16, max_length=48, warmup_ratio=0.05,
        ),
        [{"prompt": prompt_for(rng), "completion": response_with(rng, 0)} for _ in range(640)],
    )  # fmt: skip

    def rankings(n, seed):
        rng = random.Random(seed)
        rows = []
        for _ in range(n):
            answers = [response_with(rng, 0, min_words=1, max_words=14) for _ in range(4)]
            counts = [len(a.split()) for a in answers]
            rows.append(
                {
                    "prompt": prompt_for(rng),
                    "responses": answers,
                    "ranks": ranks_from_counts(counts),
                }
            )
        return rows

    rm = train_reward(
        RewardConfig(
            model=str(tiny_model_path), output_dir=str(root / "rm"), lr=1e-3, warmup_steps=3,
            max_length=64,
        ),
        rankings(160, 0),
        rankings(40, 1),
    )  # fmt: skip
    assert rm["metrics"]["eval/accuracy"] >= 0.85  # it did learn length
    assert rm["metrics"]["eval/accuracy_longer_wins"] == pytest.approx(1.0)  # and only length
    yield {"root": root, "prompts": [prompt_for(rng) for _ in range(64)]}
    torch.set_num_threads(before)


def run(world, name, **kw):
    root = world["root"]
    kw = {"steps": 12, "lr": 5e-5, "watch_prompts": 8, "length_alarm_ratio": 1.3} | kw
    cfg = PPOConfig(
        policy=str(root / "sft"), reward_model=str(root / "rm"), output_dir=str(root / name),
        rollouts_per_step=16, mini_batch_size=8, ppo_epochs=4, response_length=16,
        kl_coef=0.01, seed=0, **kw,
    )  # fmt: skip
    steps = []
    result = train_ppo(cfg, world["prompts"], callback=lambda s, t, m: steps.append(m))
    return result, steps


def test_a_length_loving_reward_model_raises_the_length_alarm(length_lover):
    # the control: a policy that does not move answers as long as SFT's, and no alarm
    result, steps = run(length_lover, "still", lr=1e-12, steps=2)
    assert [m["watch/length_ratio"] for m in steps] == [1.0, 1.0]
    assert result["alarms"] == []
    # trained against the length lover, it stops ending its answers (greedy answers reach the
    # 16-token cap within a step or two) and the RM's held-out score rises with it
    result, steps = run(length_lover, "alarmed")
    assert steps[-1]["watch/length_ratio"] > 1.3
    assert steps[-1]["watch/rm_score"] > steps[-1]["watch/rm_score_sft"]
    assert [a["kind"] for a in result["alarms"]].count("length") == 1
    alarm = next(a for a in result["alarms"] if a["kind"] == "length")
    assert steps[alarm["step"] - 1]["alarm/length"] > 1.3
    assert "the SFT model's length" in alarm["message"]
    assert result["stopped_early"] is None and len(steps) == 12


def test_with_the_stop_rule_the_run_stops_and_keeps_its_policy(length_lover):
    result, steps = run(length_lover, "stopped", stop_if_length_ratio_above=1.3)
    stopped = result["stopped_early"]
    assert stopped is not None and stopped["reason"].startswith("length ratio")
    assert len(steps) == stopped["step"] < 12
    assert steps[-1]["watch/stopped_at_step"] == stopped["step"]
    assert (length_lover["root"] / "stopped" / "ppo.json").exists()  # the policy is saved


def test_the_watch_off_logs_no_watch_metrics(length_lover):
    result, steps = run(length_lover, "blind", watch_prompts=0)
    assert not any(key.startswith(("watch/", "alarm/")) for m in steps for key in m)
    assert result["alarms"] == []
