"""DPO: the loss against hand-computed values, the K-way batch against its pairwise expansion
(loss and gradients), ties skipped, the layouts against a plain forward, learning, resume."""

import json
import math

import pytest
import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.dpo import (
    DPOConfig,
    batch_logprobs,
    train_dpo,
)
from training.engine.losses import kway_dpo_loss
from training.engine.reward_packing import encode_ranking
from training.engine.synthetic import synthetic_rankings

from .helpers import Killed, Recorder


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def softplus(x):
    return math.log1p(math.exp(x))


# --- the loss, by hand ------------------------------------------------------------------------


def one_pair(**options):
    # h_w = −1 − (−1.5) = 0.5, h_l = −2 − (−1.5) = −0.5: the log-ratio margin is 1.0
    policy = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    reference = torch.tensor([[-1.5, -1.5]])
    return kway_dpo_loss(policy, reference, torch.tensor([[1, 2]]), **options), policy


def test_sigmoid_loss_by_hand():
    (loss, stats), _ = one_pair(beta=0.1)
    assert loss.item() == pytest.approx(softplus(-0.1))  # −log σ(0.1) = 0.644397
    assert loss.item() == pytest.approx(0.644397, abs=1e-6)
    assert stats["rewards/chosen"].item() == pytest.approx(0.05)
    assert stats["rewards/rejected"].item() == pytest.approx(-0.05)
    assert stats["rewards/margins"].item() == pytest.approx(0.1)
    assert stats["rewards/accuracies"].item() == 1.0
    assert stats["pairs"].item() == 1


def test_label_smoothing_by_hand():
    (loss, _), _ = one_pair(beta=0.1, label_smoothing=0.2)
    # 0.8·softplus(−0.1) + 0.2·softplus(0.1) = 0.8·0.644397 + 0.2·0.744397
    assert loss.item() == pytest.approx(0.664397, abs=1e-6)


def test_ipo_loss_by_hand():
    (loss, _), policy = one_pair(beta=0.1, loss_type="ipo")
    assert loss.item() == pytest.approx((1.0 - 5.0) ** 2)  # (margin − 1/(2β))² = 16
    loss.backward()
    # d/dπ_w = 2·(1 − 5) = −8, d/dπ_l = +8
    assert policy.grad.tolist() == [[-8.0, 8.0]]


def test_ties_and_padding_give_no_pair():
    policy = torch.tensor([[-1.0, -3.0, -2.0, 0.0]])
    reference = torch.zeros(1, 4)
    ranks = torch.tensor([[1, 1, 2, 0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    loss, stats = kway_dpo_loss(policy, reference, ranks, mask, beta=1.0)
    assert stats["pairs"].item() == 2  # (0, 2) and (1, 2); the tie and the padding slot give none
    expected = (softplus(-(-1.0 + 2.0)) + softplus(-(-3.0 + 2.0))) / 2
    assert loss.item() == pytest.approx(expected)
    all_tied, stats = kway_dpo_loss(policy[:, :2], reference[:, :2], torch.tensor([[1, 1]]))
    assert all_tied.item() == 0.0 and stats["pairs"].item() == 0


def test_kway_loss_and_gradients_equal_the_pairwise_expansion():
    torch.manual_seed(0)
    policy = torch.randn(3, 4, requires_grad=True)
    reference = torch.randn(3, 4)
    ranks = torch.tensor([[1, 2, 3, 4], [2, 1, 1, 3], [1, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])
    loss, _ = kway_dpo_loss(policy, reference, ranks, mask, beta=0.3, label_smoothing=0.1)
    loss.backward()
    kway_grad = policy.grad.clone()

    policy.grad = None
    pair_losses = []
    for b in range(3):
        k = int(mask[b].sum())
        for w in range(k):
            for lo in range(k):
                if ranks[b, w] < ranks[b, lo]:
                    pair_policy = torch.stack([policy[b, w], policy[b, lo]]).unsqueeze(0)
                    pair_ref = torch.stack([reference[b, w], reference[b, lo]]).unsqueeze(0)
                    one, _ = kway_dpo_loss(
                        pair_policy, pair_ref, torch.tensor([[1, 2]]), beta=0.3, label_smoothing=0.1
                    )
                    pair_losses.append(one)
    expanded = torch.stack(pair_losses).mean()
    expanded.backward()
    assert len(pair_losses) == 6 + 5 + 1
    assert loss.item() == pytest.approx(expanded.item(), rel=1e-6)
    assert torch.allclose(kway_grad, policy.grad, atol=1e-7)


# --- log-probabilities on a real model --------------------------------------------------------

ROWS = [
    {
        "prompt": "Say hi.",
        "responses": ["hi there", "hello you good sir", "yo"],
        "ranks": [1, 2, 2],
    },
    {"prompt": "Name a colour.", "responses": ["red", "a deep shade of blue"], "ranks": [2, 1]},
]


def plain_logprob(model, prompt_ids, response_ids):
    ids = torch.tensor([prompt_ids + response_ids])
    logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    start = len(prompt_ids)
    return sum(float(logp[start + j - 1, t]) for j, t in enumerate(response_ids))


@pytest.mark.parametrize("layout", ["shared", "packed", "padded"])
def test_every_layout_gives_the_plain_forwards_logprobs(tiny_model_path, layout):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    encoded = [encode_ranking(tokenizer, row, 64) for row in ROWS]
    with torch.no_grad():
        logps, _ = batch_logprobs(model, encoded, layout, tokenizer.pad_token_id, "cpu")
        for b, ranking in enumerate(encoded):
            for k, response in enumerate(ranking.response_ids):
                expected = plain_logprob(model, ranking.prompt_ids, response)
                assert logps[b, k].item() == pytest.approx(expected, abs=1e-4), (layout, b, k)
    assert logps[1, 2].item() == 0.0  # the padding slot


def test_the_kway_batch_gives_the_pairwise_expansions_gradients(tiny_model_path):
    tokenizer = load_tokenizer(tiny_model_path)
    model = load_causal_lm(tiny_model_path).eval()
    pad = tokenizer.pad_token_id
    row = {"prompt": "Tell me.", "responses": ["a great one", "the a of", "great great"]}
    row["ranks"] = [2, 3, 1]
    ranking = encode_ranking(tokenizer, row, 64)
    reference = [[-30.0, -31.0, -29.5]]

    def grads_of(rankings, refs):
        model.zero_grad()
        logps, batch = batch_logprobs(model, rankings, "shared", pad, "cpu")
        ref = torch.zeros_like(logps)
        for b, values in enumerate(refs):
            ref[b, : len(values)] = torch.tensor(values)
        loss, _ = kway_dpo_loss(logps, ref, batch.ranks, batch.mask, beta=0.1)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    kway_loss, kway_grads = grads_of([ranking], reference)
    pairs, refs = [], []
    for w in range(3):
        for lo in range(3):
            if row["ranks"][w] < row["ranks"][lo]:
                pair_row = {
                    "prompt": row["prompt"],
                    "chosen": row["responses"][w],
                    "rejected": row["responses"][lo],
                }
                pairs.append(encode_ranking(tokenizer, pair_row, 64))
                refs.append([reference[0][w], reference[0][lo]])
    pair_loss, pair_grads = grads_of(pairs, refs)
    assert len(pairs) == 3
    assert kway_loss == pytest.approx(pair_loss, rel=1e-5)
    for a, b in zip(kway_grads, pair_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


# --- training ---------------------------------------------------------------------------------


def small_config(tiny_model_path, out, **overrides):
    values = dict(
        model=str(tiny_model_path),
        output_dir=str(out),
        lr=2e-3,
        beta=0.1,
        rankings_per_batch=8,
        epochs=2,
        max_length=48,
        device="cpu",
        save_every_minutes=0,
    )
    return DPOConfig(**(values | overrides))


def test_dpo_learns_the_marker_rule(tiny_model_path, tmp_path):
    train = synthetic_rankings(96, 4, seed=1)
    held_out = synthetic_rankings(32, 4, seed=2)
    seen = []
    result = train_dpo(
        small_config(tiny_model_path, tmp_path / "dpo"),
        train,
        held_out,
        callback=lambda step, total, metrics: seen.append(metrics),
    )
    first, final = seen[0], result["metrics"]
    # the reference is the starting policy: every log-ratio is 0 at the first step
    assert first["train/loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert first["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert final["eval/accuracy"] >= 0.75, final
    assert final["eval/margin"] > 0
    assert final["eval/loss"] < math.log(2)
    saved = tmp_path / "dpo"
    assert (saved / "config.json").exists() and (saved / "dpo.json").exists()
    assert not (saved / "reference_logps.json").exists()
    assert json.loads((saved / "dpo.json").read_text())["config"]["beta"] == 0.1
    load_causal_lm(saved)  # a plain causal-LM folder


def test_a_killed_run_resumes_with_the_cached_reference(tiny_model_path, tmp_path):
    train = synthetic_rankings(32, 4, seed=3)
    config = small_config(tiny_model_path, tmp_path / "dpo", epochs=1, save_every=2)
    with pytest.raises(Killed):
        train_dpo(config, train, callback=Recorder(kill_at=2))
    cache = tmp_path / "dpo" / "reference_logps.json"
    before = json.loads(cache.read_text())
    recorder = Recorder()
    result = train_dpo(config, train, callback=recorder)
    assert recorder.resumed_at == [2] and result["resumed_from_step"] == 2
    assert recorder.steps == [3, 4]
    assert len(before["train"]) == 32


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0)
    with pytest.raises(ValueError, match="loss_type"):
        DPOConfig(loss_type="hinge")
    with pytest.raises(ValueError, match="label_smoothing"):
        DPOConfig(loss_type="ipo", label_smoothing=0.1)
