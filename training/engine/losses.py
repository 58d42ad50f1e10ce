"""Pure torch losses and estimators for SFT, the reward model and PPO.

Every function here is a few lines of tensor arithmetic with no model, no config and no I/O, so
that `tests/engine/test_losses.py` can check each one against numbers computed by hand.

Conventions
- `mask` tensors are 1 for real tokens and 0 for padding (any dtype; they are cast to the value's).
- Ranks follow the export format: 1 = best, equal ranks = tie (a tied pair is no comparison).
- Per-token PPO tensors are [batch, response_len]; responses are right-padded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# masked reductions


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over positions where `mask` is 1 (all of them if `dim` is None).

    An all-zero mask gives 0 rather than NaN, so an empty mini-batch never poisons a running mean.
    """
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Population variance (divide by n, not n - 1) over masked positions."""
    mean = masked_mean(x, mask)
    return masked_mean((x - mean) ** 2, mask)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise `x` to zero mean and unit variance over the masked positions.

    PPO whitens advantages per batch so the step size does not depend on the reward scale.
    With `shift_mean=False` the mean is added back (only the scale changes), as done for rewards.
    Padding positions come back as 0.
    """
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


# ---------------------------------------------------------------------------------------------
# language modelling


def masked_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Causal LM cross-entropy: logits at position t predict labels at t + 1.

    `labels` is the input ids with prompt and padding positions set to `ignore_index`, so SFT
    trains on response tokens only. The mean is over the kept tokens of the whole batch (every
    token weighs the same, long responses are not down-weighted). No kept token gives 0.
    """
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    keep = shift_labels != ignore_index
    total = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=ignore_index,
        reduction="sum",
    )
    return total / keep.sum().clamp(min=1)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) under `logits` ([..., V]) for each token ([...]); computed in float32.

    As logit − logsumexp: the same number as gathering from a log-softmax, without writing a
    vocabulary-sized tensor of log-probs first."""
    logits = logits.float()
    chosen = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return chosen - torch.logsumexp(logits, dim=-1)


def logprobs_and_entropy(
    logits: torch.Tensor, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``token_logprobs`` and ``entropy_from_logits`` from ONE log-softmax over the vocabulary
    (the rollout needs both; each alone costs a vocabulary-sized pass)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    chosen = torch.gather(logp, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return chosen, -(logp.exp() * logp).sum(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position, in nats."""
    logits = logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


# ---------------------------------------------------------------------------------------------
# reward model


def ordered_pairs(ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (winner, loser) of every strictly ordered pair of one ranking (1 = best).

    Ties give no pair: a ranking of K without ties gives C(K, 2) pairs.
    """
    better = ranks.unsqueeze(1) < ranks.unsqueeze(0)  # better[i, j]: i is ranked above j
    win, lose = better.nonzero(as_tuple=True)
    return win, lose


def kway_bradley_terry_loss(rewards: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """InstructGPT's loss for one ranking of K responses.

    mean over strictly ordered pairs (w, l) of -log σ(r_w − r_l); -log σ(d) = softplus(-d).
    All C(K, 2) pairs share the K rewards, so each response is forwarded once. A ranking that is
    all ties has no pair and gives 0 (kept in the graph so backward still works).
    """
    win, lose = ordered_pairs(ranks)
    if win.numel() == 0:
        return rewards.sum() * 0.0
    return F.softplus(rewards[lose] - rewards[win]).mean()


def kway_bradley_terry_loss_batched(
    rewards: torch.Tensor, ranks: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched K-way loss: rewards, ranks and mask are [B, K_max] (mask 0 = padding slot).

    Each ranking is one batch element: its loss is the mean over its own pairs, then the batch
    loss is the mean over rankings that have at least one pair (InstructGPT weighs every ranking
    the same, whatever its K, which keeps highly-correlated pairs from one prompt from dominating).
    Returns (loss, per-ranking losses [B]).
    """
    if mask is None:
        mask = torch.ones_like(rewards)
    valid = mask.bool()
    pair = (ranks.unsqueeze(2) < ranks.unsqueeze(1)) & valid.unsqueeze(2) & valid.unsqueeze(1)
    diff = rewards.unsqueeze(2) - rewards.unsqueeze(1)  # diff[b, i, j] = r_i − r_j
    pair_f = pair.to(rewards.dtype)
    n_pairs = pair_f.sum((1, 2))
    per_ranking = (F.softplus(-diff) * pair_f).sum((1, 2)) / n_pairs.clamp(min=1)
    has_pairs = (n_pairs > 0).to(rewards.dtype)
    loss = (per_ranking * has_pairs).sum() / has_pairs.sum().clamp(min=1)
    return loss, per_ranking


def pairwise_accuracy_counts(rewards: torch.Tensor, ranks: torch.Tensor) -> tuple[int, int, float]:
    """(correct, total, summed margin) over the strictly ordered pairs of one ranking.

    A pair counts as correct when r_w > r_l strictly (an equal score is a miss, not half a hit).
    """
    win, lose = ordered_pairs(ranks)
    diff = rewards[win] - rewards[lose]
    return int((diff > 0).sum()), int(diff.numel()), float(diff.sum())


# ---------------------------------------------------------------------------------------------
# PPO


def per_token_rewards(
    scores: torch.Tensor, kl: torch.Tensor, lengths: torch.Tensor, beta: float
) -> torch.Tensor:
    """InstructGPT's per-token reward: R_t = −β·KL_t on every token, plus the reward model's
    score on the last token of the response (index lengths − 1).

    scores [B], kl [B, T] (already 0 on padding), lengths [B] ≥ 1. The score comes once, at the
    end, because the reward model judges the whole response; the KL penalty is per token.
    """
    rewards = -beta * kl
    rows = torch.arange(kl.size(0), device=kl.device)
    rewards[rows, lengths - 1] += scores.to(rewards.dtype)
    return rewards


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al., 2016) over right-padded responses.

    δ_t = r_t + γ V_{t+1} − V_t,  A_t = δ_t + γ λ A_{t+1},  returns_t = A_t + V_t.
    Past the end of a response V and r are zeroed, so the last real token bootstraps from 0
    (the episode ends there). Returns (advantages, returns), both 0 on padding.
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    T = rewards.size(1)
    advantages = torch.zeros_like(values)
    next_adv = torch.zeros_like(values[:, 0])
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(values[:, 0])
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask[:, t]
        advantages[:, t] = next_adv
    returns = (advantages + values) * mask
    return advantages, returns


def clipped_surrogate_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped policy loss (Schulman et al., 2017), as a quantity to minimise.

    loss = mean max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) with ρ = exp(log π − log π_old).
    Returns (loss, clipfrac, approxkl); clipfrac is the share of tokens where the clipped term
    was chosen, approxkl = ½·mean((log π − log π_old)²) (both detached, for logging).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).to(logprobs.dtype), mask).detach()
    approxkl = 0.5 * masked_mean(log_ratio.detach() ** 2, mask)
    return loss, clipfrac, approxkl


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss: ½·mean max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²).

    Keeps the value head from moving far from the values the advantages were computed with.
    Returns (loss, clipfrac), clipfrac being the share of tokens where the clipped term won.
    """
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    err = (values - returns) ** 2
    err_clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(err, err_clipped), mask)
    clipfrac = masked_mean((err_clipped > err).to(values.dtype), mask).detach()
    return loss, clipfrac


def kl_estimators(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-token estimators of KL(π ‖ π_ref) from samples of π (Schulman, "Approximating KL").

    With log r = log π_ref − log π:
      k1 = −log r            (unbiased, high variance, can be negative)  — the PPO reward penalty
      k2 = ½ (log r)²        (biased, low variance, ≥ 0)
      k3 = (r − 1) − log r   (unbiased, low variance, ≥ 0)
    """
    log_r = ref_logprobs - logprobs
    return {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": torch.expm1(log_r) - log_r}


class FixedKLController:
    """Constant KL coefficient β."""

    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Adaptive β (Ziegler et al., 2019, §2.2): steer the measured KL towards `target`.

    e = clip(KL / target − 1, −0.2, 0.2);  β ← β · (1 + e · n_steps / horizon).
    The clip keeps one noisy batch from moving β by more than 20%·n_steps/horizon.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon


# ---------------------------------------------------------------------------------------------
# DPO


def kway_dpo_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    ranks: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    loss_type: str = "sigmoid",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DPO (Rafailov et al., 2023) over every strictly ordered pair of each ranking.

    policy_logps, ref_logps: summed log-probabilities of each response, [B, K_max]; ranks and
    mask as in the K-way reward loss (1 = best, mask 0 = padding slot). With the log-ratio
    h_w − h_l of a pair (h = log π − log π_ref):
      sigmoid: −(1 − ε)·log σ(β·(h_w − h_l)) − ε·log σ(−β·(h_w − h_l))   (ε: label smoothing,
               the conservative DPO of a label flipped with probability ε)
      ipo:     (h_w − h_l − 1/(2β))²   (Azar et al., 2023: a target margin instead of a sigmoid)
    The loss is the mean over all pairs of the batch, each pair weighing the same: exactly the
    loss of the pairwise expansion, which is what TRL trains on flattened pairs. Ties give no
    pair. Returns (loss, stats) with TRL's names: the implicit rewards β·h of winners and losers,
    their margin and how often the winner's is higher (all means over pairs, detached).
    """
    if mask is None:
        mask = torch.ones_like(policy_logps)
    valid = mask.bool()
    pair = (ranks.unsqueeze(2) < ranks.unsqueeze(1)) & valid.unsqueeze(2) & valid.unsqueeze(1)
    logratio = policy_logps - ref_logps
    diff = logratio.unsqueeze(2) - logratio.unsqueeze(1)  # diff[b, w, l] = h_w − h_l
    if loss_type == "sigmoid":
        losses = (1 - label_smoothing) * F.softplus(-beta * diff) + label_smoothing * F.softplus(
            beta * diff
        )
    elif loss_type == "ipo":
        losses = (diff - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"loss_type: {loss_type!r} is not sigmoid or ipo")
    pair_f = pair.to(losses.dtype)
    n_pairs = pair_f.sum().clamp(min=1)
    loss = (losses * pair_f).sum() / n_pairs
    with torch.no_grad():
        reward = beta * logratio
        chosen = (reward.unsqueeze(2) * pair_f).sum() / n_pairs
        rejected = (reward.unsqueeze(1) * pair_f).sum() / n_pairs
        won = ((diff > 0).to(losses.dtype) * pair_f).sum() / n_pairs
    stats = {
        "rewards/chosen": chosen,
        "rewards/rejected": rejected,
        "rewards/margins": chosen - rejected,
        "rewards/accuracies": won,
        "pairs": pair_f.sum(),
    }
    return loss, stats
