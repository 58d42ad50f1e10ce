"""Prompt de-duplication by long common prefix, as InstructGPT did.

Two prompts are duplicates when their first ``prefix_chars`` characters agree after
normalising case and whitespace (so trailing variations of a template collapse).
"""

import hashlib
import re

_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip().casefold()


def dedup_key(text: str, prefix_chars: int) -> str:
    prefix = normalise(text)[:prefix_chars] if prefix_chars else normalise(text)
    return hashlib.sha256(prefix.encode("utf-8")).hexdigest()


def conversation_dedup_key(messages: list[dict], prefix_chars: int) -> str:
    """Dedup key of a multi-turn prompt.

    The earlier turns must agree exactly and the final user turn by its long prefix:
    conversations branching from the same opening (Open-Assistant trees, HH dialogues)
    are different prompts, while re-asking the same thing in the same context is not.
    """
    *context, last = messages
    history = "\n".join(f"{m['role']}: {normalise(m['content'])}" for m in context)
    final = normalise(last["content"])
    final = final[:prefix_chars] if prefix_chars else final
    return hashlib.sha256(f"{history}\n{last['role']}: {final}".encode()).hexdigest()


def text_hash(text: str) -> str:
    """Exact identity of a response text (used to keep one copy per prompt)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
