"""PPO's experience: sampling responses, scoring them, per-token rewards and advantages.

`rollout` is steps 1–3 of a PPO step (see ppo.py): everything computed without gradients from the
policy, the reference, the value model and the reward model before the PPO epochs. The forward
helpers are shared with the PPO epochs so the old and new log-probs / values are computed by the
same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.engine.data import stop_token_ids, turn_suffix
from training.engine.losses import (
    gae,
    logprobs_and_entropy,
    masked_mean,
    per_token_rewards,
    token_logprobs,
    whiten,
)
from training.engine.reward import reward_bias
from training.engine.reward_packing import reward_parts


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask (generation appends on the right)."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding, as generate() uses (Llama's default does not)."""
    return (mask.cumsum(1) - 1).clamp(min=0)


def is_stop(responses: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """True where a response holds any of `stop_ids`."""
    return torch.isin(responses, torch.tensor(stop_ids, dtype=responses.dtype).to(responses))


def response_mask(responses: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """1 up to and including the first stop token (any of `stop_ids`) of each response, 0 after
    it; all 1 when there is no stop id."""
    stop = is_stop(responses, stop_ids).long()
    after_stop = (stop.cumsum(1) - stop) > 0
    return (~after_stop).long()


def policy_forward(model, ids, mask, n_prompt: int, temperature: float):
    """Logits for the response positions: position t predicts token t + 1."""
    # only the positions that predict response tokens go through the (vocab-sized) LM head
    n_response = ids.size(1) - n_prompt
    logits = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions(mask),
        logits_to_keep=n_response + 1,
    ).logits[:, :-1]
    # no copy when there is nothing to change: the vocabulary-sized logits are the big tensor
    if logits.dtype != torch.float32:
        logits = logits.float()
    return logits if temperature == 1.0 else logits / temperature


def value_forward(value_model, ids, mask, n_prompt: int) -> torch.Tensor:
    """One value per response token: the value of the state before that token is sampled."""
    backbone, head = reward_parts(value_model)
    hidden = backbone(
        input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False
    ).last_hidden_state
    return head(hidden[:, n_prompt - 1 : -1]).squeeze(-1).float()


class ValueHead(torch.nn.Module):
    """`value_forward` as a module's forward: DistributedDataParallel all-reduces gradients only
    for a forward that ran through its wrapper, and value_forward calls the value model's
    backbone and head directly."""

    def __init__(self, value_model):
        super().__init__()
        self.value_model = value_model

    def forward(self, ids, mask, n_prompt: int) -> torch.Tensor:
        return value_forward(self.value_model, ids, mask, n_prompt)


def with_turn_suffix(ids, mask, last, ended, suffix: list[int], pad_id: int, eos_id=None):
    """The reward model's input: each response that stopped ends like the rendered turns the
    reward model was trained on, its stop token replaced by `eos_id` (the template's end of turn;
    the model may also stop at other ids of its own) and followed by the template's end-of-turn
    tokens (`turn_suffix`). Returns ids, mask and the column to read each score at."""
    rows = ended.nonzero().squeeze(1)
    if eos_id is not None:
        ids = ids.clone()
        ids[rows, last[rows]] = eos_id
    if not suffix:
        return ids, mask, last
    n = len(suffix)
    ids = torch.cat([ids, ids.new_full((ids.size(0), n), pad_id)], 1)
    mask = torch.cat([mask, mask.new_zeros((mask.size(0), n))], 1)
    # after the stop token a row holds padding (mask 0), so the suffix takes the columns after it
    cols = (last[rows].unsqueeze(1) + 1 + torch.arange(n, device=ids.device)).long()
    ids[rows.unsqueeze(1), cols] = torch.tensor(suffix, dtype=ids.dtype, device=ids.device)
    mask[rows.unsqueeze(1), cols] = 1
    return ids, mask, last + n * ended.long()


@torch.no_grad()
def reward_scores(reward_model, ids, mask, last: torch.Tensor) -> torch.Tensor:
    """Reward model score (+ bias) of each row, read at column `last` (the end of its turn)."""
    backbone, head = reward_parts(reward_model)
    hidden = backbone(
        input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False
    ).last_hidden_state
    picked = hidden[torch.arange(ids.size(0), device=ids.device), last]
    return head(picked).squeeze(-1).float() + reward_bias(reward_model)


@dataclass
class Rollout:
    ids: torch.Tensor  # [B, P + T] query + response (pad after the first stop token)
    mask: torch.Tensor  # [B, P + T] attention mask
    n_prompt: int  # P, the (left-padded) query width
    responses: torch.Tensor  # [B, T]
    resp_mask: torch.Tensor  # [B, T] 1 up to and including the first stop token
    lengths: torch.Tensor  # [B] response tokens kept
    ended: torch.Tensor  # [B] bool: the response produced a stop token
    old_logprobs: torch.Tensor  # [B, T]
    old_values: torch.Tensor  # [B, T]
    scores: torch.Tensor  # [B] reward model score (+ bias, − missing-EOS penalty)
    kl: torch.Tensor  # [B, T] log π − log π_ref per token (k1), 0 on padding
    entropy: torch.Tensor  # [B] mean per-token entropy of the policy
    advantages: torch.Tensor  # [B, T]
    returns: torch.Tensor  # [B, T]


@torch.no_grad()
def rollout(config, prompts: list[list[int]], policy, ref, value_model, reward_model, beta, tok):
    """Sample one response per prompt and compute everything the PPO epochs need.

    The models are the plain (unwrapped) ones: nothing here needs gradients, so nothing needs
    DDP; `tok` gives the pad and eos ids; `beta` is the KL coefficient of this step.
    """
    device = next(policy.parameters()).device
    pad_id = tok.pad_token_id
    stop_ids = stop_token_ids(policy, tok)  # as generate.py samples: the same responses end
    query, query_mask = left_pad(prompts, pad_id)
    query, query_mask = query.to(device), query_mask.to(device)
    P = query.size(1)
    policy.eval()
    generated = policy.generate(
        input_ids=query,
        attention_mask=query_mask,
        do_sample=True,
        temperature=config.temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=config.response_length,
        pad_token_id=pad_id,
        eos_token_id=stop_ids or None,
    )
    responses = generated[:, P:]
    resp_mask = response_mask(responses, stop_ids)
    responses = responses.masked_fill(resp_mask == 0, pad_id)
    ids = torch.cat([query, responses], 1)
    mask = torch.cat([query_mask, resp_mask], 1)
    lengths = resp_mask.sum(1)
    ended = (is_stop(responses, stop_ids) & (resp_mask == 1)).any(1)

    # log-probs, values, scores, per-token rewards
    logits = policy_forward(policy, ids, mask, P, config.temperature)
    old_logprobs, token_entropy = logprobs_and_entropy(logits, responses)
    entropy = masked_mean(token_entropy, resp_mask, dim=1)
    del logits
    ref_logprobs = token_logprobs(policy_forward(ref, ids, mask, P, config.temperature), responses)
    old_values = value_forward(value_model, ids, mask, P)
    last = P + lengths - 1
    scores = reward_scores(
        reward_model,
        *with_turn_suffix(ids, mask, last, ended, turn_suffix(tok), pad_id, tok.eos_token_id),
    )
    if config.missing_eos_penalty:
        scores = scores - config.missing_eos_penalty * (~ended).float()
    kl = (old_logprobs - ref_logprobs) * resp_mask  # k1 per token
    rewards = per_token_rewards(scores, kl, lengths, beta)
    if config.whiten_rewards:
        rewards = whiten(rewards, resp_mask, shift_mean=False)
    advantages, returns = gae(rewards, old_values, resp_mask, config.gamma, config.lam)
    if config.whiten_advantages:
        advantages = whiten(advantages, resp_mask)
    return Rollout(
        ids=ids,
        mask=mask,
        n_prompt=P,
        responses=responses,
        resp_mask=resp_mask,
        lengths=lengths,
        ended=ended,
        old_logprobs=old_logprobs,
        old_values=old_values,
        scores=scores,
        kl=kl,
        entropy=entropy,
        advantages=advantages,
        returns=returns,
    )


@torch.no_grad()
def answer_and_score(model, prompts: list[list[int]], judges: list, config, tok, stop_ids):
    """The reward-hacking watch's look (watch.py): greedy answers of ``model`` to ``prompts``,
    (mean length in tokens, [mean score by each judge]). Greedy, so the same policy always
    gives the same numbers."""
    device = next(model.parameters()).device
    query, query_mask = left_pad(prompts, tok.pad_token_id)
    query, query_mask = query.to(device), query_mask.to(device)
    P = query.size(1)
    was_training = model.training
    model.eval()
    generated = model.generate(
        input_ids=query,
        attention_mask=query_mask,
        do_sample=False,
        max_new_tokens=config.response_length,
        pad_token_id=tok.pad_token_id,
        eos_token_id=stop_ids or None,
    )
    model.train(was_training)
    responses = generated[:, P:]
    resp_mask = response_mask(responses, stop_ids)
    lengths = resp_mask.sum(1).clamp(min=1)
    ids = torch.cat([query, responses.masked_fill(resp_mask == 0, tok.pad_token_id)], 1)
    mask = torch.cat([query_mask, resp_mask], 1)
    ended = (is_stop(responses, stop_ids) & (resp_mask == 1)).any(1)
    suffixed = with_turn_suffix(
        ids, mask, P + lengths - 1, ended, turn_suffix(tok), tok.pad_token_id, tok.eos_token_id
    )
    scores = [reward_scores(judge, *suffixed).float().mean().item() for judge in judges]
    return lengths.float().mean().item(), scores
