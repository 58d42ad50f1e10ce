"""Projects: creating one and changing its settings. Every rule on a setting lives here.

The API (``ProjectViewSet``), the admin (``ProjectAdmin``), the import commands (a project
named by ``--project`` is created when new), ``seed_demo`` and ``simulate_labelers`` create
and change projects only through these functions. The model's check constraints hold the
same bounds as the database's last word; a refusal here names the field instead.
"""

import math
import re

from django.db import IntegrityError, transaction

from labeling.checks import has_nul
from labeling.errors import ServiceError
from labeling.intake import splits
from labeling.limits import FLAG_MAX_CHARS, MAX_GUIDELINES_CHARS, too_long
from labeling.models import LIKERT_MAX, MAX_K, MIN_K, Project

SLUG_MAX_CHARS = Project._meta.get_field("slug").max_length
NAME_MAX_CHARS = Project._meta.get_field("name").max_length
# Django's slug characters, the ones the API's and the pages' URLs accept.
SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# A flag is a name in exports and form values; labels are derived from it ("hallucination").
FLAG = re.compile(r"[a-z][a-z0-9_]*")
# A task wants at most this many labelers (the API's task creation has the same bound).
MAX_OVERLAP = 100
# A lease only returns an abandoned slot when it lapses; a longer one strands the slot.
MAX_LEASE_MINUTES = 7 * 24 * 60
MAX_COLUMN_INT = 2**31 - 1  # PostgreSQL integer

INT_BOUNDS = {
    "k_min": (MIN_K, MAX_K),
    "k_max": (MIN_K, MAX_K),
    "overlap": (1, MAX_OVERLAP),
    "lease_minutes": (1, MAX_LEASE_MINUTES),
    "likert_max": (2, LIKERT_MAX),
    # 0 would refuse every prompt that names its author: always a mistake.
    "prompt_cap_per_user": (1, MAX_COLUMN_INT),
    "dedup_prefix_chars": (0, MAX_COLUMN_INT),  # 0 compares whole prompts
    "min_seconds_per_task": (0, MAX_COLUMN_INT),  # also shorter than the lease (below)
    "screening_min_tasks": (0, MAX_COLUMN_INT),
    "screening_min_demonstrations": (0, MAX_COLUMN_INT),
}
SHARES = ("gold_rate", "agreement_threshold", "screening_threshold")  # 0..1
SWITCHES = ("allow_ties", "requires_screening")
SETTINGS = (
    "name",
    "guidelines",
    "principles",
    "flags",
    "split_fractions",
    *INT_BOUNDS,
    *SHARES,
    *SWITCHES,
)
# Prompts are split and de-duplicated as they arrive: changing these once prompts exist
# would put an author's later prompts in another split, or let duplicates through.
FIXED_ONCE_PROMPTS_EXIST = ("split_fractions", "dedup_prefix_chars")


class ProjectError(ServiceError):
    """A refused project setting; ``field`` names it."""


def create_project(*, slug: str, name: str, **settings) -> Project:
    """A new project; settings not given take the model's defaults."""
    values = clean_settings({"slug": slug, "name": name, **settings})
    return _saved(Project(**values))


def update_project(project: Project, **changes) -> Project:
    """Change ``project``'s settings (and slug); the stored project is what rules compare to,
    so pass the instance as read from the database."""
    values = clean_settings(changes, project)
    for name, value in values.items():
        setattr(project, name, value)
    return _saved(project, update_fields=list(values)) if values else project


def get_or_create_project(slug: str, **defaults) -> tuple[Project, bool]:
    """The project with this slug, created (named after its slug by default) when new."""
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        return project, False
    try:
        return create_project(slug=slug, **{"name": slug, **defaults}), True
    except ProjectError as exc:
        # Another process created it since we looked.
        project = Project.objects.filter(slug=slug).first() if exc.field == "slug" else None
        if project is None:
            raise
        return project, False


def clean_settings(values: dict, project: Project | None = None) -> dict:
    """``values`` as they will be stored, each checked, then the rules between settings
    checked on the project they would make. ``project``: the one they change (None: new)."""
    unknown = set(values) - {"slug", *SETTINGS}
    if unknown:
        raise TypeError(f"not project settings: {', '.join(sorted(unknown))}")
    clean = {}
    for name, value in values.items():
        clean[name] = _slug(value, project) if name == "slug" else _setting(name, value)

    def setting(name):
        if name in clean:
            return clean[name]
        if project is not None:
            return getattr(project, name)
        return Project._meta.get_field(name).get_default()

    k_min, k_max = setting("k_min"), setting("k_max")
    if k_min > k_max:
        if "k_max" in clean:
            raise ProjectError("k_max", f"must be at least k_min ({k_min})")
        raise ProjectError("k_min", f"must be at most k_max ({k_max})")
    lease_seconds, throttle = setting("lease_minutes") * 60, setting("min_seconds_per_task")
    if throttle >= lease_seconds:
        # A labeler could never submit within the lease.
        if "min_seconds_per_task" in clean:
            raise ProjectError(
                "min_seconds_per_task", f"must be shorter than the lease ({lease_seconds} s)"
            )
        raise ProjectError(
            "lease_minutes", f"must be longer than min_seconds_per_task ({throttle} s)"
        )
    if project is not None and project.pk is not None:
        changed = [
            name
            for name in FIXED_ONCE_PROMPTS_EXIST
            if name in clean and clean[name] != _stored(project, name)
        ]
        if changed and project.prompts.exists():
            raise ProjectError(changed[0], "cannot change once the project has prompts")
    return clean


def _saved(project: Project, **kwargs) -> Project:
    try:
        with transaction.atomic():
            project.save(**kwargs)
    except IntegrityError:
        # A concurrent write took the slug between the check and the save.
        taken = Project.objects.filter(slug=project.slug)
        if taken.exclude(pk=project.pk).exists():
            raise ProjectError("slug", "a project with this slug already exists") from None
        raise
    return project


def _stored(project: Project, name: str):
    value = getattr(project, name)
    if name == "split_fractions":
        try:
            return splits.validate_fractions(value)
        except ServiceError:
            return value
    return value


def _slug(value, project: Project | None) -> str:
    if not isinstance(value, str) or not value:
        raise ProjectError("slug", "required")
    if len(value) > SLUG_MAX_CHARS:
        raise ProjectError("slug", f"at most {SLUG_MAX_CHARS} characters")
    if not SLUG.fullmatch(value):
        raise ProjectError("slug", "only letters, digits, hyphens and underscores")
    taken = Project.objects.filter(slug=value)
    if project is not None and project.pk is not None:
        taken = taken.exclude(pk=project.pk)
    if taken.exists():
        raise ProjectError("slug", "a project with this slug already exists")
    return value


def _setting(name: str, value):
    if name in INT_BOUNDS:
        low, high = INT_BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ProjectError(name, f"must be an integer from {low} to {high}")
        return value
    if name in SHARES:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise ProjectError(name, "must be a number from 0 to 1")
        return float(value)
    if name in SWITCHES:
        if not isinstance(value, bool):
            raise ProjectError(name, "must be true or false")
        return value
    return {
        "name": _name,
        "guidelines": _guidelines,
        "principles": _principles,
        "flags": _flags,
        "split_fractions": _split_fractions,
    }[name](value)


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProjectError("name", "required")
    value = value.strip()
    if len(value) > NAME_MAX_CHARS:
        raise ProjectError("name", f"at most {NAME_MAX_CHARS} characters")
    if has_nul(value):
        raise ProjectError("name", "must not contain NUL characters")
    return value


def _guidelines(value) -> str:
    if not isinstance(value, str):
        raise ProjectError("guidelines", "must be text")
    if has_nul(value):
        raise ProjectError("guidelines", "must not contain NUL characters")
    if refusal := too_long(value, MAX_GUIDELINES_CHARS):
        raise ProjectError("guidelines", refusal)
    return value


def _principles(value) -> str:
    """The constitution an AI labeler's checkpoint judge reads (docs/ai-labelers.md): Markdown
    like the guidelines, under the same bound; empty stands for the default constitution."""
    if not isinstance(value, str):
        raise ProjectError("principles", "must be text")
    if has_nul(value):
        raise ProjectError("principles", "must not contain NUL characters")
    if refusal := too_long(value, MAX_GUIDELINES_CHARS):
        raise ProjectError("principles", refusal)
    return value


def _flags(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(flag, str) for flag in value):
        raise ProjectError("flags", "must be a list of flag names")
    for flag in value:
        if not FLAG.fullmatch(flag) or len(flag) > FLAG_MAX_CHARS:
            raise ProjectError(
                "flags",
                f"{flag[:FLAG_MAX_CHARS]!r} is not a flag name: lowercase letters, digits and "
                f"underscores, starting with a letter, at most {FLAG_MAX_CHARS} characters",
            )
    if len(set(value)) != len(value):
        raise ProjectError("flags", "a flag is listed twice")
    return list(value)


def _split_fractions(value) -> dict[str, float]:
    try:
        return splits.validate_fractions(value)
    except ServiceError as exc:
        raise ProjectError(exc.field, exc.message) from exc
