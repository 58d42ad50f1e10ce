"""PPOConfig: the hyper-parameters of PPO against a reward model (training/engine/ppo.py).

Torch-free (standard library and training.engine.config only), so the web side can build and
validate a job's config without loading the training stack. Sizes are per process, like TRL's
per-device batch sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.engine.config import check


@dataclass
class PPOConfig:
    policy: str = "tiny"  # SFT checkpoint: the starting policy and the frozen reference
    reward_model: str = ""  # folder written by train_reward; also the value model's start
    output_dir: str = "var/artifacts/ppo"  # final policy here; resumable state in output_dir/state
    prompts_file: str | None = None  # CLI only: prompt rows (text, messages or {"prompt": ...})
    pretrain_file: str | None = None  # CLI only: texts for PPO-ptx (strings or {"text": ...})
    steps: int = 100  # PPO steps (one rollout batch each)
    rollouts_per_step: int = 16  # prompts sampled per step, one response each
    mini_batch_size: int = 8  # rollouts per gradient step; must divide rollouts_per_step
    ppo_epochs: int = 4  # passes over each rollout batch
    lr: float = 1e-5  # one AdamW over policy and value model
    max_grad_norm: float = 1.0  # clip the global gradient norm
    kl_coef: float = 0.02  # β: InstructGPT's value
    adaptive_kl: bool = False  # adapt β towards kl_target (Ziegler et al., 2019)
    kl_target: float = 6.0  # nats per response
    kl_horizon: int = 10000  # rollouts over which β moves by at most ~20%
    gamma: float = 1.0  # no discounting within a response
    lam: float = 0.95  # GAE λ
    cliprange: float = 0.2  # ε of the clipped surrogate
    cliprange_value: float = 0.2  # clip of the value update
    vf_coef: float = 0.1  # weight of the value loss
    whiten_advantages: bool = True  # zero mean, unit variance per batch
    whiten_rewards: bool = False  # scale per-token rewards to unit variance per batch
    response_length: int = 64  # max new tokens per rollout
    temperature: float = 1.0  # sampling temperature (log-probs use the same)
    max_prompt_length: int = 256  # prompts keep their last tokens
    missing_eos_penalty: float = 0.0  # subtracted from the score of a response that never ended
    ptx_coef: float = 27.8  # γ_ptx of PPO-ptx, used only when pretraining texts are given
    ptx_batch_size: int = 8  # pretraining texts per mini-batch
    ptx_max_length: int = 256  # tokens per pretraining text
    seed: int = 0  # rollouts, mini-batch order and prompt draws depend on (seed, step, process)
    # The reward-hacking watch (watch.py): a fixed set of held-out prompts, set aside from the
    # rollouts, answered greedily by the policy every `watch_every` steps and once by the SFT
    # model; length, the RM's score (and a gold RM's) compared. Alarms are logged as alarm/*.
    watch_prompts: int = 8  # held-out prompts (0 = no watch)
    watch_every: int = 1  # PPO steps between looks
    gold_reward_model: str = ""  # a second RM, trained on a disjoint half of the rankings
    length_alarm_ratio: float = 1.5  # alarm when answers are this many times the SFT length
    kl_alarm: float = 10.0  # alarm when the rollouts' KL to SFT passes this (nats per answer)
    gold_drop_alarm: float = 0.1  # alarm when the gold score falls this far below its best
    # while the proxy (the trained-against RM) score is above its first value
    stop_if_kl_above: float | None = None  # stop the run (saving the policy) past this KL
    stop_if_gold_drops: float | None = None  # … when the gold score falls this far, proxy up
    stop_if_length_ratio_above: float | None = None  # … when answers grow this much longer
    # Resumable state (output_dir/state: policy, value model, optimizer, β) is written whenever
    # either of these comes first; a rerun with the same output_dir continues from it.
    save_every: int = 100  # PPO steps between saves; 0 = not by count
    save_every_minutes: float = 10.0  # minutes since the last save (or start); 0 = not by time
    device: str = ""  # "cpu" forces the CPU; "" = the device accelerate gives this process

    def __post_init__(self) -> None:
        check(
            self,
            steps=">= 1",
            rollouts_per_step=">= 1",
            mini_batch_size=">= 1",
            ppo_epochs=">= 1",
            lr="> 0",
            max_grad_norm="> 0",
            kl_coef=">= 0",
            kl_target="> 0",
            kl_horizon=">= 1",
            gamma="in [0, 1]",
            lam="in [0, 1]",
            cliprange="> 0",
            cliprange_value="> 0",
            vf_coef=">= 0",
            response_length=">= 1",
            temperature="> 0",  # log-probs divide the logits by it
            max_prompt_length=">= 1",
            missing_eos_penalty=">= 0",
            ptx_coef=">= 0",
            ptx_batch_size=">= 1",
            ptx_max_length=">= 2",  # one token predicts the next
            save_every=">= 0",
            save_every_minutes=">= 0",
            watch_prompts=">= 0",
            watch_every=">= 1",
            length_alarm_ratio="> 0",
            kl_alarm=">= 0",
            gold_drop_alarm=">= 0",
        )
        stops = ("stop_if_kl_above", "stop_if_gold_drops", "stop_if_length_ratio_above")
        check(self, **{name: ">= 0" for name in stops if getattr(self, name) is not None})
        if self.stop_if_gold_drops is not None and not self.gold_reward_model:
            raise ValueError("stop_if_gold_drops: needs gold_reward_model")
        if self.rollouts_per_step % self.mini_batch_size:
            raise ValueError(
                f"mini_batch_size: must divide rollouts_per_step ({self.rollouts_per_step}), "
                f"got {self.mini_batch_size}"
            )
