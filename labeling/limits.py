"""Every size limit on what people and files put into Preflab, in one place (docs/limits.md).

The services enforce these (``clean_prompt``, ``check_response``, ``submit_demonstration``,
``record_ranking``, ``review``, the project settings), so the pages, the API, the admin and
the imports refuse an oversize value with the same message, naming the field. The text
limits count characters, as the database's ``length()`` does, not bytes.

A limit may be raised (or lowered) for a campaign through its environment variable, read
once at start. The request body limit is Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(``PREFLAB_MAX_BODY_BYTES``, preflab/settings.py), answered by ``preflab.body_limit``.
"""

import os

from django.conf import settings


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    limit = int(value)
    if limit < 1:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return limit


# A prompt's text, and each message of a multi-turn prompt (about 8k tokens of English:
# longer than any instruction a labeler can read and judge).
MAX_PROMPT_CHARS = _env_int("PREFLAB_MAX_PROMPT_CHARS", 32_000)
# A candidate response (imported, generated or added through the API).
MAX_RESPONSE_CHARS = _env_int("PREFLAB_MAX_RESPONSE_CHARS", 32_000)
# A demonstration is a response a labeler writes: the same bound as a model's.
MAX_DEMONSTRATION_CHARS = _env_int("PREFLAB_MAX_DEMONSTRATION_CHARS", 32_000)
# A ranking's comment, and a reviewer's note on a demonstration.
MAX_COMMENT_CHARS = _env_int("PREFLAB_MAX_COMMENT_CHARS", 5_000)
MAX_REVIEW_NOTE_CHARS = _env_int("PREFLAB_MAX_REVIEW_NOTE_CHARS", 5_000)
# A project's guidelines (Markdown shown beside every task).
MAX_GUIDELINES_CHARS = _env_int("PREFLAB_MAX_GUIDELINES_CHARS", 100_000)
# A flag is a name in exports and form values, not text: not a setting.
FLAG_MAX_CHARS = 64


def max_body_bytes() -> int | None:
    """The request body limit in force: a JSON body or a form, in bytes (10 MiB unless
    PREFLAB_MAX_BODY_BYTES says otherwise; a setting, so that tests may change it; None, as
    Django allows, is no limit)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_long(value: str, limit: int) -> str | None:
    """The refusal of ``value`` over ``limit`` characters, or None."""
    if len(value) > limit:
        return f"at most {limit} characters (this has {len(value)})"
    return None
