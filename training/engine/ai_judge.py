"""AI judges (RLAIF): score responses without a person, by a reward model or by a prompted LM.

Two judges, each loaded once and then asked about many (prompt, response) pairs:

- ``RewardJudge``: a reward model folder (``reward.py``); the score is its normalised reward,
  exactly what ``reward.score_responses`` gives.
- ``PrincipleJudge``: any causal LM (an SFT or policy checkpoint, or the base model) prompted
  with a constitution (Bai et al. 2022, "Constitutional AI"): the principles, the
  conversation and the question whether the response follows them, rendered with the
  model's chat template. The score is log p("Yes") − log p("No") of the token the model
  would write next: one forward per pair, no sampling, so it is deterministic and cheap.

"Yes" and "No" are read as the first token of each spelling a tokenizer may use at the start
of an answer ("Yes" and " Yes"): their probabilities are summed, so a tokenizer that writes
the answer after a space counts as much as one that does not. Their token ids must differ
(they do for every BPE/sentencepiece vocabulary in use).

Inputs longer than ``max_length`` tokens keep their end (the question and the response's
last part): the question is what the next token answers.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.engine.base_model import load_causal_lm, load_tokenizer
from training.engine.data import encode_prompt, prompt_to_messages
from training.engine.reward import (
    load_reward_model,
    pick_device,
    reward_bias,
    rewards_of,
)
from training.engine.reward_packing import encode_ranking

QUESTION = "Does the assistant's final response follow every principle above? Answer Yes or No."
YES_SPELLINGS = ("Yes", " Yes")
NO_SPELLINGS = ("No", " No")


def judge_messages(principles: str, prompt, response: str) -> list[dict]:
    """The one user turn a principle judge answers: principles, conversation, question."""
    turns = prompt_to_messages(prompt) + [{"role": "assistant", "content": response}]
    conversation = "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in turns)
    text = f"Principles:\n{principles.strip()}\n\nConversation:\n{conversation}\n\n{QUESTION}"
    return [{"role": "user", "content": text}]


def judge_ids(tokenizer, principles: str, prompt, response: str, max_length: int) -> list[int]:
    """Token ids the judge reads, ending where its answer begins (the generation prompt)."""
    ids = encode_prompt(tokenizer, judge_messages(principles, prompt, response))
    return ids[-max_length:]


def answer_token_ids(tokenizer) -> tuple[list[int], list[int]]:
    """(Yes ids, No ids): the distinct first tokens of each spelling."""

    def first_tokens(spellings):
        found = []
        for spelling in spellings:
            ids = tokenizer(spelling, add_special_tokens=False).input_ids
            if ids and ids[0] not in found:
                found.append(ids[0])
        return found

    yes, no = first_tokens(YES_SPELLINGS), first_tokens(NO_SPELLINGS)
    if not yes or not no or set(yes) & set(no):
        raise ValueError("this tokenizer does not tell 'Yes' from 'No' by their first token")
    return yes, no


def yes_no_margin(logits: torch.Tensor, yes: list[int], no: list[int]) -> torch.Tensor:
    """log p(Yes) − log p(No) from next-token logits (..., vocab)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return torch.logsumexp(logp[..., yes], dim=-1) - torch.logsumexp(logp[..., no], dim=-1)


class PrincipleJudge:
    """A causal LM asked, per response, whether it follows ``principles``."""

    def __init__(self, model_path: str | Path, *, device: str = "", max_length: int = 1024):
        self.tokenizer = load_tokenizer(model_path)
        self.model = load_causal_lm(model_path).to(pick_device(device)).eval()
        self.max_length = max_length
        self.yes, self.no = answer_token_ids(self.tokenizer)

    @torch.no_grad()
    def scores(
        self, principles: str, prompts: list, responses: list[str], *, batch_size: int = 8
    ) -> list[float]:
        encoded = [
            judge_ids(self.tokenizer, principles, p, r, self.max_length)
            for p, r in zip(prompts, responses, strict=True)
        ]
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        out: list[float] = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for ids in chunk)
            # Right padding: under the causal mask no real token sees a pad, and positions
            # are those of the unpadded sequence, so a batch scores as its rows alone do.
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, ids in enumerate(chunk):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                mask[row, : len(ids)] = 1
            logits = self.model(
                input_ids=input_ids.to(device), attention_mask=mask.to(device)
            ).logits
            last = torch.tensor([len(ids) - 1 for ids in chunk], device=device)
            final = logits[torch.arange(len(chunk), device=device), last]
            out += yes_no_margin(final, self.yes, self.no).cpu().tolist()
        return out


class RewardJudge:
    """A reward model folder; the score is its normalised reward (``reward.score_responses``)."""

    def __init__(self, model_path: str | Path, *, device: str = "", max_length: int = 512):
        self.tokenizer = load_tokenizer(model_path)
        self.model = load_reward_model(model_path).to(pick_device(device))
        self.bias = reward_bias(self.model)
        self.max_length = max_length

    def scores(self, prompts: list, responses: list[str], *, batch_size: int = 16) -> list[float]:
        encoded = [
            encode_ranking(
                self.tokenizer, {"prompt": p, "responses": [r], "ranks": [1]}, self.max_length
            )
            for p, r in zip(prompts, responses, strict=True)
        ]
        raw = rewards_of(self.model, encoded, "shared", batch_size, self.tokenizer.pad_token_id)
        return [r[0] + self.bias for r in raw]


def principle_scores(
    judge_path: str | Path,
    principles: str,
    prompts: list,
    responses: list[str],
    *,
    batch_size: int = 8,
    max_length: int = 1024,
    device: str = "",
) -> list[float]:
    """log p("Yes") − log p("No") of a causal LM judging each (prompt, response) against
    ``principles``; prompts are text or lists of messages. Loads the model for this call."""
    judge = PrincipleJudge(judge_path, device=device, max_length=max_length)
    return judge.scores(principles, prompts, responses, batch_size=batch_size)
