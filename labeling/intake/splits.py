"""Train / validation / test assignment by the user who wrote a prompt.

InstructGPT split its data by user ID so that no user's prompts appear in two splits;
we do the same with a deterministic hash, so the split of a user never changes between
imports, machines or Python versions.
"""

import hashlib
import math

from labeling.errors import ServiceError
from labeling.vocabulary import SPLITS as SPLIT_ORDER

DEFAULT_FRACTIONS = dict(zip(SPLIT_ORDER, (0.8, 0.1, 0.1), strict=True))


class SplitError(ServiceError):
    """Split fractions that cannot split prompts."""


def validate_fractions(fractions: dict) -> dict[str, float]:
    """The fraction of every split (a split left out has none), or SplitError."""
    if not isinstance(fractions, dict):
        raise SplitError("split_fractions", f"must be an object like {DEFAULT_FRACTIONS}")
    unknown = set(fractions) - set(SPLIT_ORDER)
    if unknown:
        raise SplitError("split_fractions", f"unknown split {sorted(unknown, key=str)[0]!r}")
    for value in fractions.values():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise SplitError("split_fractions", "every fraction must be a number")
    values = {name: float(fractions.get(name, 0.0)) for name in SPLIT_ORDER}
    if any(v < 0 for v in values.values()) or abs(sum(values.values()) - 1.0) > 1e-6:
        raise SplitError("split_fractions", "fractions must be non-negative and sum to 1")
    return values


def user_bucket(source_user: str) -> float:
    """A number in [0, 1) fixed by the user id alone."""
    digest = hashlib.sha256(source_user.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_for_user(source_user: str, fractions: dict | None = None, *, fallback_key: str = ""):
    """The split of every prompt of ``source_user``.

    Prompts with no known author are split by ``fallback_key`` (their own text), which
    still never puts one prompt in two splits.
    """
    values = validate_fractions(fractions or DEFAULT_FRACTIONS)
    bucket = user_bucket(source_user or f"anonymous:{fallback_key}")
    edge = 0.0
    for name in SPLIT_ORDER:
        edge += values[name]
        if bucket < edge:
            return name
    return SPLIT_ORDER[-1] if values["test"] else "train"
