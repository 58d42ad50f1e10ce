"""The words of the domain, defined once: splits, roles, task sources, statuses, flags.

Models take their choices from here, and so do exports, serializers, command options and
settings checks, so a name is never spelled in two places.
"""

from django.db import models


class Split(models.TextChoices):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


class Role(models.TextChoices):
    """Per-project roles, in increasing order of rights."""

    LABELER = "labeler"
    REVIEWER = "reviewer"
    ADMIN = "admin"


class TaskSource(models.TextChoices):
    LABELING = "labeling", "Collected on the platform"
    IMPORTED = "imported", "Imported preferences"
    EVALUATION = "evaluation", "Blind side-by-side evaluation"


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active"
    SUBMITTED = "submitted"
    SKIPPED = "skipped"
    EXPIRED = "expired"


class DemonstrationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


SPLITS = tuple(Split.values)  # in order: train, validation, test
ROLE_ORDER = {role: rank for rank, role in enumerate(Role.values)}

# InstructGPT's labeling flags: every new project starts with these.
DEFAULT_FLAGS = (
    "fails_to_follow_instruction",
    "inappropriate_for_customer_assistant",
    "hallucination",
    "satisfies_constraint",
    "sexual_content",
    "violent_content",
    "encourages_violence_abuse_terrorism_self_harm",
    "denigrates_protected_class",
    "harmful_advice",
    "expresses_opinion",
    "expresses_moral_judgment",
)
