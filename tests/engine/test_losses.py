"""Losses checked against numbers computed by hand (the arithmetic is in the comments)."""

import math

import pytest
import torch

from training.engine.losses import (
    AdaptiveKLController,
    FixedKLController,
    clipped_surrogate_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae,
    kl_estimators,
    kway_bradley_terry_loss,
    kway_bradley_terry_loss_batched,
    logprobs_and_entropy,
    masked_cross_entropy,
    masked_mean,
    ordered_pairs,
    pairwise_accuracy_counts,
    per_token_rewards,
    token_logprobs,
    whiten,
)


def sp(x: float) -> float:
    """softplus(x) = -log σ(-x), the loss of one pair whose winner trails by x."""
    return math.log1p(math.exp(x))


LOG2 = math.log(2.0)


# --- masked reductions ------------------------------------------------------------------------


def test_masked_mean_and_empty_mask():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1, 1, 0], [1, 0, 0]])
    # kept: 1, 2, 4 -> 7 / 3
    assert masked_mean(x, m).item() == pytest.approx(7 / 3)
    # per row: (1 + 2) / 2 = 1.5 ; 4 / 1 = 4
    assert masked_mean(x, m, dim=1).tolist() == pytest.approx([1.5, 4.0])
    assert masked_mean(x, torch.zeros_like(m)).item() == 0.0


def test_whiten():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    m = torch.tensor([[1, 1, 0]])
    # kept 1, 3: mean 2, population variance ((1-2)^2 + (3-2)^2) / 2 = 1 -> (-1, 1); pad -> 0
    assert whiten(x, m).tolist()[0] == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)
    # shift_mean=False adds the mean 2 back: (1, 3)
    assert whiten(x, m, shift_mean=False).tolist()[0][:2] == pytest.approx([1.0, 3.0], abs=1e-6)


# --- language modelling ----------------------------------------------------------------------


def test_masked_cross_entropy_hand_example():
    # vocab 2. Logits at position 0 predict the label at position 1, etc.
    # pos0 logits (0, 0)       -> p = (1/2, 1/2)
    # pos1 logits (ln 3, 0)    -> p = (3/4, 1/4)
    # pos2 logits (anything)   -> predicts nothing (last position)
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]]])
    # labels: pos0 = prompt (ignored anyway, nothing predicts it), pos1 = token 1, pos2 = token 0
    labels = torch.tensor([[-100, 1, 0]])
    # CE = mean(-ln 1/2, -ln 3/4) = (ln 2 + ln 4/3) / 2 = ln(8/3) / 2
    got = masked_cross_entropy(logits, labels).item()
    assert got == pytest.approx(math.log(8 / 3) / 2, rel=1e-6)
    # mask pos1 (prompt) too: only -ln 3/4 remains
    labels = torch.tensor([[-100, -100, 0]])
    assert masked_cross_entropy(logits, labels).item() == pytest.approx(math.log(4 / 3), rel=1e-6)
    # nothing kept -> 0, not NaN
    assert masked_cross_entropy(logits, torch.full((1, 3), -100)).item() == 0.0


def test_token_logprobs_and_entropy():
    logits = torch.tensor([[math.log(3.0), 0.0]])  # p = (3/4, 1/4)
    assert token_logprobs(logits, torch.tensor([1])).item() == pytest.approx(math.log(0.25))
    # H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy_from_logits(logits).item() == pytest.approx(h, rel=1e-6)


# --- K-way Bradley–Terry --------------------------------------------------------------------


def test_bt_two_responses():
    # r_w - r_l = 2 - 1 = 1 -> -log σ(1) = ln(1 + e^-1)
    loss = kway_bradley_terry_loss(torch.tensor([2.0, 1.0]), torch.tensor([1, 2]))
    assert loss.item() == pytest.approx(sp(-1.0), rel=1e-6)
    # same numbers, ranking reversed: -log σ(-1) = ln(1 + e)
    loss = kway_bradley_terry_loss(torch.tensor([2.0, 1.0]), torch.tensor([2, 1]))
    assert loss.item() == pytest.approx(sp(1.0), rel=1e-6)


def test_bt_three_with_tie():
    # responses a, b, c with ranks (1, 2, 2): b and c tie -> pairs (a>b), (a>c) only
    rewards = torch.tensor([1.0, 0.0, 3.0])
    ranks = torch.tensor([1, 2, 2])
    win, lose = ordered_pairs(ranks)
    assert sorted(zip(win.tolist(), lose.tolist(), strict=True)) == [(0, 1), (0, 2)]
    # a>b: diff 1 -> sp(-1); a>c: diff -2 -> sp(2); mean of the two
    expected = (sp(-1.0) + sp(2.0)) / 2
    assert kway_bradley_terry_loss(rewards, ranks).item() == pytest.approx(expected, rel=1e-6)


def test_bt_all_tied_gives_zero_with_grad():
    rewards = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = kway_bradley_terry_loss(rewards, torch.tensor([1, 1, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert rewards.grad.tolist() == [0.0, 0.0, 0.0]


def test_bt_four_with_tie_hand_numbers():
    # ranks (1, 2, 2, 4): pairs 0>1, 0>2, 0>3, 1>3, 2>3 (1~2 tie) = 5 pairs
    rewards = torch.tensor([0.5, 0.0, 1.0, -1.0])
    ranks = torch.tensor([1, 2, 2, 4])
    # diffs r_w - r_l: 0.5, -0.5, 1.5, 1.0, 2.0
    expected = (sp(-0.5) + sp(0.5) + sp(-1.5) + sp(-1.0) + sp(-2.0)) / 5
    assert kway_bradley_terry_loss(rewards, ranks).item() == pytest.approx(expected, rel=1e-6)
    # accuracy: 4 of 5 pairs have diff > 0 (0>2 is wrong); margins sum 0.5-0.5+1.5+1+2 = 4.5
    correct, total, margin = pairwise_accuracy_counts(rewards, ranks)
    assert (correct, total) == (4, 5) and margin == pytest.approx(4.5)


@pytest.mark.parametrize("K", range(2, 10))
def test_bt_k_from_2_to_9(K):
    # Equal rewards: every pair costs -log σ(0) = ln 2, whatever K; C(K, 2) pairs without ties.
    ranks = torch.randperm(K, generator=torch.Generator().manual_seed(K)) + 1
    assert ordered_pairs(ranks)[0].numel() == K * (K - 1) // 2
    loss = kway_bradley_terry_loss(torch.zeros(K), ranks)
    assert loss.item() == pytest.approx(LOG2, rel=1e-6)
    # Rewards r = -rank (a perfect model with unit gaps): a pair whose ranks differ by g has
    # diff g and costs sp(-g); there are K - g such pairs for g = 1..K-1, C(K, 2) in all.
    # K = 3: (2·sp(-1) + sp(-2)) / 3 ; K = 9: (8 sp(-1) + 7 sp(-2) + ... + 1 sp(-8)) / 36
    expected = sum((K - g) * sp(-g) for g in range(1, K)) / (K * (K - 1) / 2)
    loss = kway_bradley_terry_loss(-ranks.float(), ranks)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # One tie at the top (ranks 1, 1, 2, ...): C(K, 2) - 1 pairs remain
    tied = torch.tensor([1] + list(range(1, K)))
    assert ordered_pairs(tied)[0].numel() == K * (K - 1) // 2 - 1


def test_bt_batched_matches_single_and_weighs_rankings_equally():
    # ranking A: K = 2, rewards (1, 0), ranks (1, 2) -> sp(-1)
    # ranking B: K = 3 (padded to 3), rewards (0, 0, 0), ranks (1, 2, 3) -> ln 2
    # ranking C: all tied -> no pair, excluded from the mean
    rewards = torch.tensor([[1.0, 0.0, 9.0], [0.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    ranks = torch.tensor([[1, 2, 0], [1, 2, 3], [1, 1, 0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 0]])
    loss, per = kway_bradley_terry_loss_batched(rewards, ranks, mask)
    assert per[0].item() == pytest.approx(sp(-1.0), rel=1e-6)
    assert per[1].item() == pytest.approx(LOG2, rel=1e-6)
    assert per[2].item() == 0.0
    # mean over the two rankings with pairs, each weighing 1/2 (not 1 pair vs 3 pairs)
    assert loss.item() == pytest.approx((sp(-1.0) + LOG2) / 2, rel=1e-6)


# --- per-token rewards ------------------------------------------------------------------------


def test_per_token_rewards_by_hand():
    # β = 0.1; response 0 has 3 tokens, response 1 has 2 (its third column is padding, KL 0)
    kl = torch.tensor([[0.5, -0.2, 1.0], [0.3, 0.4, 0.0]])
    scores = torch.tensor([2.0, -1.0])
    lengths = torch.tensor([3, 2])
    rewards = per_token_rewards(scores, kl, lengths, beta=0.1)
    # row 0: −0.1·(0.5, −0.2, 1.0) = (−0.05, 0.02, −0.1), + score 2 on token 2 -> 1.9
    # row 1: −0.1·(0.3, 0.4) = (−0.03, −0.04), + score −1 on token 1 -> −1.04; padding 0
    assert rewards.tolist()[0] == pytest.approx([-0.05, 0.02, 1.9], abs=1e-6)
    assert rewards.tolist()[1] == pytest.approx([-0.03, -1.04, 0.0], abs=1e-6)
    assert kl.tolist()[0] == pytest.approx([0.5, -0.2, 1.0])  # the input is left alone
    # β = 0: the score alone, on the last token
    assert per_token_rewards(scores, kl, lengths, beta=0.0).tolist() == [
        [0.0, 0.0, 2.0],
        [0.0, -1.0, 0.0],
    ]


# --- GAE -------------------------------------------------------------------------------------


def test_gae_three_steps_by_hand():
    # one response of 3 tokens, rewards (0, 0, 1), values (0.5, 0.6, 0.7), γ = 1, λ = 0.5
    r = torch.tensor([[0.0, 0.0, 1.0]])
    v = torch.tensor([[0.5, 0.6, 0.7]])
    m = torch.ones(1, 3)
    adv, ret = gae(r, v, m, gamma=1.0, lam=0.5)
    # δ2 = 1 + 0 - 0.7 = 0.3                A2 = 0.3
    # δ1 = 0 + 0.7 - 0.6 = 0.1              A1 = 0.1 + 0.5·0.3 = 0.25
    # δ0 = 0 + 0.6 - 0.5 = 0.1              A0 = 0.1 + 0.5·0.25 = 0.225
    assert adv.tolist()[0] == pytest.approx([0.225, 0.25, 0.3], abs=1e-6)
    # returns = A + V = (0.725, 0.85, 1.0)
    assert ret.tolist()[0] == pytest.approx([0.725, 0.85, 1.0], abs=1e-6)


def test_gae_discount_and_padding():
    # γ = 0.5, λ = 1: A_t = Σ γ^k r_{t+k} - V_t (Monte-Carlo advantage)
    # rewards (1, 2), values (0, 0), then 1 pad whose value 5 and reward 7 must be ignored
    r = torch.tensor([[1.0, 2.0, 7.0]])
    v = torch.tensor([[0.0, 0.0, 5.0]])
    m = torch.tensor([[1, 1, 0]])
    adv, ret = gae(r, v, m, gamma=0.5, lam=1.0)
    # A1 = 2 ; A0 = 1 + 0.5·2 = 2 ; pad -> 0
    assert adv.tolist()[0] == pytest.approx([2.0, 2.0, 0.0], abs=1e-6)
    assert ret.tolist()[0] == pytest.approx([2.0, 2.0, 0.0], abs=1e-6)


# --- clipped surrogate and value loss ----------------------------------------------------------


def test_clipped_surrogate_both_sides():
    ln = math.log
    # token 0: A = +1, ρ = 1.5 -> unclipped -1.5, clipped -1.2 -> max = -1.2 (clipped above)
    # token 1: A = -1, ρ = 0.5 -> unclipped  0.5, clipped  0.8 -> max =  0.8 (clipped below)
    # token 2: A = +1, ρ = 0.5 -> unclipped -0.5, clipped -0.8 -> max = -0.5 (not clipped)
    # token 3: A = -1, ρ = 1.1 -> unclipped  1.1, clipped  1.1 -> 1.1 (inside the band)
    old = torch.zeros(1, 4)
    new = torch.tensor([[ln(1.5), ln(0.5), ln(0.5), ln(1.1)]])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    m = torch.ones(1, 4)
    loss, clipfrac, approxkl = clipped_surrogate_loss(new, old, adv, m, clip=0.2)
    # loss = (-1.2 + 0.8 - 0.5 + 1.1) / 4 = 0.2 / 4 = 0.05
    assert loss.item() == pytest.approx(0.05, abs=1e-6)
    # clipped on tokens 0 and 1 -> 2 / 4
    assert clipfrac.item() == pytest.approx(0.5)
    # approxkl = ½ mean(log ρ ²) = ½ (ln²1.5 + 2 ln²0.5 + ln²1.1) / 4
    kl = 0.5 * (ln(1.5) ** 2 + 2 * ln(0.5) ** 2 + ln(1.1) ** 2) / 4
    assert approxkl.item() == pytest.approx(kl, rel=1e-5)


def test_clipped_surrogate_gradient_zero_when_clipped():
    new = torch.tensor([[math.log(1.5)]], requires_grad=True)
    loss, _, _ = clipped_surrogate_loss(new, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1))
    loss.backward()
    assert new.grad.item() == 0.0  # ρ beyond 1 + ε with A > 0: no further push


def test_clipped_value_loss():
    # token 0: V_old 0, V 1.0, R 1.0: clipped V = 0.2 -> errs (0, 0.64) -> 0.64
    # token 1: V_old 0, V -0.1, R 1.0: inside the band -> errs (1.21, 1.21) -> 1.21
    # token 2: V_old 0, V -1.0, R -2.0: clipped V = -0.2 -> errs (1, 3.24) -> 3.24
    values = torch.tensor([[1.0, -0.1, -1.0]])
    old = torch.zeros(1, 3)
    ret = torch.tensor([[1.0, 1.0, -2.0]])
    loss, clipfrac = clipped_value_loss(values, old, ret, torch.ones(1, 3), clip=0.2)
    # ½ · (0.64 + 1.21 + 3.24) / 3 = ½ · 5.09 / 3
    assert loss.item() == pytest.approx(0.5 * 5.09 / 3, rel=1e-5)
    assert clipfrac.item() == pytest.approx(2 / 3)


# --- KL --------------------------------------------------------------------------------------


def test_kl_estimators():
    # log π = ln 0.5, log π_ref = ln 0.25 -> log r = ln 0.5, r = 0.5
    lp = torch.tensor([math.log(0.5)])
    ref = torch.tensor([math.log(0.25)])
    k = kl_estimators(lp, ref)
    # k1 = -ln 0.5 = ln 2 ; k2 = ½ ln²2 ; k3 = (0.5 - 1) + ln 2
    assert k["k1"].item() == pytest.approx(LOG2)
    assert k["k2"].item() == pytest.approx(0.5 * LOG2**2)
    assert k["k3"].item() == pytest.approx(-0.5 + LOG2)
    # identical distributions: all three are 0
    z = kl_estimators(lp, lp)
    assert all(v.item() == 0.0 for v in z.values())


def test_adaptive_kl_controller():
    c = AdaptiveKLController(init_kl_coef=0.1, target=6.0, horizon=10000)
    # KL 9: 9/6 - 1 = 0.5, clipped to 0.2; β = 0.1 · (1 + 0.2 · 256 / 10000) = 0.1 · 1.00512
    c.update(9.0, n_steps=256)
    assert c.value == pytest.approx(0.100512)
    # KL 5.4: 5.4/6 - 1 = -0.1 (inside the clip); β *= 1 - 0.1 · 1000 / 10000 = 0.99
    c.update(5.4, n_steps=1000)
    assert c.value == pytest.approx(0.100512 * 0.99)
    # KL 0: error -1 clipped to -0.2; β *= 1 - 0.2 · 10000/10000 = 0.8
    c.update(0.0, n_steps=10000)
    assert c.value == pytest.approx(0.100512 * 0.99 * 0.8)
    f = FixedKLController(0.02)
    f.update(100.0, 10)
    assert f.value == 0.02


def test_logprobs_and_entropy_equal_the_two_passes():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    tokens = torch.randint(0, 11, (3, 5))
    chosen, entropy = logprobs_and_entropy(logits, tokens)
    assert torch.allclose(chosen, token_logprobs(logits, tokens))
    assert torch.allclose(entropy, entropy_from_logits(logits))
