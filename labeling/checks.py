"""Checks on plain values that several services share."""


def has_nul(value) -> bool:
    """PostgreSQL text and jsonb cannot hold NUL characters: a write with one fails, so a
    service refuses them on the field instead."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False
