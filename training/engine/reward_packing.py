"""Turning rankings into model inputs, and reading one reward per response.

A ranking is a prompt with K responses. Three layouts give the same rewards (tested to float
tolerance in tests/engine/test_reward.py) at different costs:

  padded  one row per (prompt, response), right-padded: K rows of prompt + response tokens.
  packed  one row per ranking: [P R1][P R2]...[P RK] side by side, each block causal on its own
          (a block-diagonal mask, position ids restarting at 0 per block), so no pad tokens are
          computed inside a ranking.
  shared  one row per ranking: [P R1 R2 ... RK]. The prompt is encoded ONCE; every response sees
          the whole prompt and itself (causally) but no other response, and its position ids
          continue after the prompt, exactly as if it followed the prompt alone.

packed/shared pass a 4-D additive mask [rows, 1, L, L] to the backbone; transformers (4.46+)
hands a 4-D mask to the attention kernel unchanged, which sdpa and eager attention honour
(flash-attention-2 does not take arbitrary masks: load with attn_implementation="sdpa").

The reward of a response is the scalar head applied to the hidden state of its last token (the
last of its rendered turn, see encode_ranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from training.engine.data import tokenize_demonstration

Layout = Literal["padded", "packed", "shared"]


@dataclass
class EncodedRanking:
    prompt_ids: list[int]
    response_ids: list[list[int]]
    ranks: list[int]  # 1 = best, equal = tie


def ranking_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """{prompt, responses, ranks} from a grouped row or a TRL pair row (prompt/chosen/rejected)."""
    if "responses" in row:
        responses, ranks = list(row["responses"]), [int(r) for r in row["ranks"]]
        if len(responses) != len(ranks):
            raise ValueError("a ranking needs one rank per response")
        return {"prompt": row["prompt"], "responses": responses, "ranks": ranks}
    if "chosen" in row and "rejected" in row:
        return {
            "prompt": row["prompt"],
            "responses": [row["chosen"], row["rejected"]],
            "ranks": [1, 2],
        }
    raise ValueError(f"not a ranking or pair row (keys: {sorted(row)})")


def encode_ranking(tokenizer, row: dict[str, Any], max_length: int) -> EncodedRanking:
    """Token ids of the prompt (once) and of each response, with the SFT data's rendering.

    Each response is the whole rendered assistant turn, the chat template's end-of-turn tokens
    included (SmolLM2: `<|im_end|>` and a newline), so the reward is read at the token where
    `AutoModelForSequenceClassification` reads it on an `apply_chat_template`'d conversation:
    where TRL's RewardTrainer trains, and where anyone who loads the saved folder scores. PPO
    appends the same tokens to a sampled response that stopped (`turn_suffix`). Reading one
    token earlier, at `<|im_end|>`, cost 0.02 held-out accuracy on SmolLM2 (bench/README.md).
    Every (prompt + response) fits in max_length: the prompt keeps its end, responses their start.
    """
    ranking = ranking_from_row(row)
    prompt_ids: list[int] | None = None
    responses = []
    for text in ranking["responses"]:
        ids = tokenize_demonstration(
            tokenizer, {"prompt": ranking["prompt"], "completion": text}, max_length=10**9
        )
        n_prompt = sum(1 for label in ids["labels"] if label == -100)
        if prompt_ids is None:
            prompt_ids = ids["input_ids"][:n_prompt]
        responses.append(ids["input_ids"][n_prompt:])
    assert prompt_ids is not None
    longest = max(len(r) for r in responses)
    room_for_prompt = max(max_length - longest, max_length // 2)
    prompt_ids = prompt_ids[-room_for_prompt:]
    eos = tokenizer.eos_token_id
    responses = [
        r[: max_length - len(prompt_ids)] or [eos if eos is not None else 0] for r in responses
    ]
    return EncodedRanking(prompt_ids, responses, ranking["ranks"])


@dataclass
class RewardBatch:
    input_ids: torch.Tensor  # [rows, L]
    attention_mask: torch.Tensor  # [rows, L] (padded) or [rows, 1, L, L] additive (packed/shared)
    position_ids: torch.Tensor  # [rows, L]
    read_row: torch.Tensor  # [n_responses] row of each response's last token
    read_col: torch.Tensor  # [n_responses] column of it
    slot: torch.Tensor  # [n_responses] flat index into the [B, K_max] reward matrix
    ranks: torch.Tensor  # [B, K_max] (0 on padding slots)
    mask: torch.Tensor  # [B, K_max] 1 where a response exists
    n_tokens: int  # real (non-pad) tokens computed, for throughput figures

    def to(self, device) -> RewardBatch:
        moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.__dict__.items()}
        return RewardBatch(**moved)


def build_batch(
    rankings: list[EncodedRanking], layout: Layout, pad_id: int, dtype=torch.float32
) -> RewardBatch:
    """Lay `rankings` out as model rows (see the module docstring)."""
    k_max = max(len(r.response_ids) for r in rankings)
    rows: list[list[tuple[list[int], int, int]]] = []  # per row: (ids, segment id, parent segment)
    reads: list[tuple[int, int, int]] = []  # (row, col, slot)
    for b, ranking in enumerate(rankings):
        p = ranking.prompt_ids
        if layout == "padded":
            for k, resp in enumerate(ranking.response_ids):
                reads.append((len(rows), len(p) + len(resp) - 1, b * k_max + k))
                rows.append([(p + resp, 0, -2)])
        elif layout == "packed":
            row, col = [], 0
            for k, resp in enumerate(ranking.response_ids):
                row.append((p + resp, k, -2))
                col += len(p) + len(resp)
                reads.append((len(rows), col - 1, b * k_max + k))
            rows.append(row)
        elif layout == "shared":
            row, col = [(p, 0, -2)], len(p)
            for k, resp in enumerate(ranking.response_ids):
                row.append((resp, k + 1, 0))
                col += len(resp)
                reads.append((len(rows), col - 1, b * k_max + k))
            rows.append(row)
        else:
            raise ValueError(f"unknown layout {layout!r}")

    L = max(sum(len(ids) for ids, _, _ in row) for row in rows)
    R = len(rows)
    input_ids = torch.full((R, L), pad_id, dtype=torch.long)
    position_ids = torch.zeros((R, L), dtype=torch.long)
    seg = torch.full((R, L), -1, dtype=torch.long)  # -1 = padding
    parent = torch.full((R, L), -3, dtype=torch.long)  # segment each token may also look into
    n_tokens = 0
    for r, row in enumerate(rows):
        col, seg_len = 0, {}
        for ids, s, par in row:
            n = len(ids)
            input_ids[r, col : col + n] = torch.tensor(ids)
            # a child segment's positions continue after its parent's (the shared prompt)
            start = seg_len.get(par, 0)
            position_ids[r, col : col + n] = torch.arange(start, start + n)
            seg[r, col : col + n] = s
            parent[r, col : col + n] = par
            seg_len[s] = start + n
            col += n
        n_tokens += col

    if layout == "padded":
        attention_mask = (seg >= 0).long()
    else:
        causal = torch.ones(L, L, dtype=torch.bool).tril()
        same = seg.unsqueeze(2) == seg.unsqueeze(1)  # [R, i, j]
        into_parent = seg.unsqueeze(1) == parent.unsqueeze(2)  # key j is in query i's parent
        allowed = causal & (same | into_parent)
        # padding rows attend to themselves (same segment -1) so no softmax row is empty (NaN)
        attention_mask = torch.zeros(R, 1, L, L, dtype=dtype)
        attention_mask.masked_fill_(~allowed.unsqueeze(1), torch.finfo(dtype).min)

    B = len(rankings)
    ranks = torch.zeros(B, k_max, dtype=torch.long)
    mask = torch.zeros(B, k_max, dtype=torch.long)
    for b, ranking in enumerate(rankings):
        ranks[b, : len(ranking.ranks)] = torch.tensor(ranking.ranks)
        mask[b, : len(ranking.ranks)] = 1
    read = torch.tensor(reads, dtype=torch.long)
    return RewardBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        read_row=read[:, 0],
        read_col=read[:, 1],
        slot=read[:, 2],
        ranks=ranks,
        mask=mask,
        n_tokens=n_tokens,
    )


def reward_parts(model):
    """(backbone, scalar head) of a *ForSequenceClassification model, PEFT-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.base_model, inner.score


def hidden_states(backbone, batch: RewardBatch) -> torch.Tensor:
    """The backbone's last hidden states of the batch's rows, [rows, L, hidden] (a 4-D mask
    is passed in the weights' dtype, as the attention kernels want it)."""
    mask = batch.attention_mask
    if mask.dim() == 4:
        mask = mask.to(next(backbone.parameters()).dtype)
    return backbone(
        input_ids=batch.input_ids,
        attention_mask=mask,
        position_ids=batch.position_ids,
        use_cache=False,
    ).last_hidden_state


@torch.no_grad()
def per_ranking(model, rankings, batch_size: int, values_of, poll=None) -> list[list[float]]:
    """``values_of(chunk)`` ([B, K_max]) of every chunk of ``rankings``, the model in eval
    mode, as each ranking's list of K values; ``poll()`` runs before each chunk so the caller
    can cancel."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(rankings), batch_size):
        if poll is not None:
            poll()
        chunk = rankings[i : i + batch_size]
        values = values_of(chunk).cpu()
        out += [values[b, : len(r.response_ids)].tolist() for b, r in enumerate(chunk)]
    model.train(was_training)
    return out


def forward_rewards(model, batch: RewardBatch) -> torch.Tensor:
    """Rewards [B, K_max] (0 on padding slots): the head at each response's last token.

    The head is applied to the gathered last-token states only, not to every position.
    """
    backbone, head = reward_parts(model)
    hidden = hidden_states(backbone, batch)
    last = hidden[batch.read_row, batch.read_col]
    values = head(last).squeeze(-1).float()
    rewards = torch.zeros(batch.ranks.numel(), dtype=values.dtype, device=values.device)
    rewards = rewards.index_put((batch.slot,), values)
    return rewards.view_as(batch.ranks)
