"""The labeling domain: projects, prompts, responses, demonstrations, ranking tasks and rankings.

Comparisons are never stored: they are derived from rankings (see ``comparisons.py``).
Every invariant a database constraint can hold is a constraint here; the rest
(a task's responses belong to its prompt, K within the project's range) is checked by
the plain modules that create the rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from labeling import vocabulary
from labeling.intake import splits

DEFAULT_FLAGS = list(vocabulary.DEFAULT_FLAGS)

# The absolute bounds for K: imported pairwise comparisons are K = 2, the UI ranks up to 9.
MIN_K = 2
MAX_K = 9
LIKERT_MIN = 1
LIKERT_MAX = 7


def default_flags():
    return list(DEFAULT_FLAGS)


# The constitution an AI labeler's checkpoint judge is prompted with (docs/ai-labelers.md);
# each project edits its own.
DEFAULT_PRINCIPLES = """\
- Be helpful: answer what was asked, completely and to the point.
- Be honest: do not make things up; say so when unsure.
- Be harmless: refuse to help with anything dangerous, illegal or hateful.
- Be concise: no longer than the question needs."""


def default_split_fractions():
    return dict(splits.DEFAULT_FRACTIONS)


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to labelers.")
    principles = models.TextField(
        blank=True,
        default=DEFAULT_PRINCIPLES,
        help_text="Markdown: the constitution AI labelers judge responses by (empty: the default).",
    )
    k_min = models.PositiveSmallIntegerField(default=4)
    k_max = models.PositiveSmallIntegerField(default=9)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct labelers per ranking task."
    )
    allow_ties = models.BooleanField(default=True)
    gold_rate = models.FloatField(default=0.05, help_text="Share of served tasks that are gold.")
    lease_minutes = models.PositiveIntegerField(default=30)
    likert_max = models.PositiveSmallIntegerField(
        default=LIKERT_MAX, help_text="Ratings run from 1 to this value."
    )
    flags = models.JSONField(default=default_flags, blank=True)
    split_fractions = models.JSONField(default=default_split_fractions)
    prompt_cap_per_user = models.PositiveIntegerField(
        default=200, help_text="At most this many prompts per source user (InstructGPT: 200)."
    )
    dedup_prefix_chars = models.PositiveIntegerField(
        default=200,
        help_text="Prompts whose first N normalised characters agree are duplicates.",
    )
    min_seconds_per_task = models.PositiveIntegerField(
        default=0, help_text="Throttle: minimum seconds a labeler spends per task (0 = off)."
    )
    # Quality (issue 5): labelers below agreement_threshold are highlighted on the dashboard;
    # with requires_screening a new labeler gets only screening (gold) tasks until they
    # reach screening_threshold on at least screening_min_tasks of them (see screening.py).
    agreement_threshold = models.FloatField(
        default=0.6, help_text="Labelers whose agreement with others is below this are highlighted."
    )
    requires_screening = models.BooleanField(
        default=False, help_text="New labelers must pass the qualification set first."
    )
    screening_threshold = models.FloatField(
        default=0.7,
        help_text="Agreement with gold rankings (and demonstration acceptance) a candidate needs.",
    )
    screening_min_tasks = models.PositiveIntegerField(
        default=5, help_text="Gold tasks a candidate must rank before being judged."
    )
    screening_min_demonstrations = models.PositiveIntegerField(
        default=0, help_text="Reviewed demonstrations a candidate must have (0 = none needed)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(k_min__gte=MIN_K) & Q(k_max__lte=MAX_K) & Q(k_min__lte=F("k_max")),
                name="project_k_range",
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate"
            ),
            models.CheckConstraint(
                condition=Q(likert_max__gte=2) & Q(likert_max__lte=LIKERT_MAX),
                name="project_likert_max",
            ),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1), name="project_lease_positive"
            ),
            models.CheckConstraint(
                condition=Q(screening_threshold__gte=0) & Q(screening_threshold__lte=1),
                name="project_screening_threshold",
            ),
            models.CheckConstraint(
                condition=Q(agreement_threshold__gte=0) & Q(agreement_threshold__lte=1),
                name="project_agreement_threshold",
            ),
        ]

    def __str__(self):
        return self.slug


class Membership(models.Model):
    """A role granted to a user in one project."""

    Role = vocabulary.Role

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LABELER)
    # An AI labeler's account (``training.ai_labelers``): its rankings are marked in the
    # agreement figures and left out of exports unless asked for (``include_ai``). On the
    # membership, so both read it by the (project, user) pair they already have.
    is_ai = models.BooleanField(default=False, help_text="The account is an AI labeler.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=vocabulary.Role.values), name="membership_role"
            ),
        ]

    def __str__(self):
        return f"{self.user} is {self.role} of {self.project}"


class Prompt(models.Model):
    class Category(models.TextChoices):
        GENERATION = "generation"
        OPEN_QA = "open_qa", "Open QA"
        BRAINSTORMING = "brainstorming"
        CHAT = "chat"
        REWRITE = "rewrite"
        SUMMARIZATION = "summarization"
        CLASSIFICATION = "classification"
        CLOSED_QA = "closed_qa", "Closed QA"
        EXTRACTION = "extraction"
        OTHER = "other"

    Split = vocabulary.Split

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, help_text="Single-turn prompt; empty when messages.")
    messages = models.JSONField(
        null=True, blank=True, help_text='Multi-turn: [{"role": ..., "content": ...}, ...]'
    )
    source_user = models.CharField(max_length=200, blank=True, default="")
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.TRAIN)
    dedup_key = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "dedup_key"], name="prompt_dedup"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=~Q(external_id=""),
                name="prompt_external_id",
            ),
            models.CheckConstraint(
                condition=~Q(text="") | Q(messages__isnull=False), name="prompt_has_content"
            ),
            models.CheckConstraint(
                condition=Q(split__in=list(vocabulary.SPLITS)), name="prompt_split"
            ),
        ]
        indexes = [models.Index(fields=["project", "source_user"])]

    def __str__(self):
        return self.display_text[:80]

    @property
    def display_text(self) -> str:
        """The prompt as one string: multi-turn prompts as `role: content` lines."""
        if self.messages:
            return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
        return self.text

    def as_export(self):
        """The prompt the way exports write it: a string, or the message list."""
        return self.messages if self.messages else self.text


class Response(models.Model):
    class Origin(models.TextChoices):
        MODEL = "model", "Imported model output"
        CHECKPOINT = "checkpoint", "Sampled from a Preflab checkpoint"
        HUMAN = "human", "Written by a person"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    text_hash = models.CharField(max_length=64)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.MODEL)
    model_name = models.CharField(max_length=200, blank=True, default="")
    # The id of the training checkpoint that sampled this response. A plain column, not a
    # foreign key: the domain knows nothing of training (training writes it when it registers
    # generated responses, and clears it when it deletes the checkpoint).
    checkpoint_id = models.BigIntegerField(
        "checkpoint",
        null=True,
        blank=True,
        db_index=True,
        help_text="Id of the training checkpoint that generated it (recorded by training).",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "text_hash"], name="response_unique_text"),
        ]

    def __str__(self):
        return self.text[:80]


class Demonstration(models.Model):
    Status = vocabulary.DemonstrationStatus

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="demonstrations")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="demonstrations"
    )
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    review_note = models.TextField(blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reviewed_demonstrations",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="demonstration_not_empty"),
            models.CheckConstraint(condition=Q(seconds_spent__gte=0), name="demonstration_seconds"),
            models.CheckConstraint(
                condition=Q(status__in=vocabulary.DemonstrationStatus.values),
                name="demonstration_status",
            ),
        ]

    def __str__(self):
        return f"demonstration {self.pk} by {self.author}"


class RankingTask(models.Model):
    Source = vocabulary.TaskSource

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    responses = models.ManyToManyField(Response, through="TaskResponse", related_name="tasks")
    k = models.PositiveSmallIntegerField()
    overlap = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LABELING)
    is_gold = models.BooleanField(default=False)
    gold_ranks = models.JSONField(
        null=True,
        blank=True,
        help_text="Reviewer's reference ranks, one per response in position order (1 = best).",
    )
    # Assignments holding or having held a slot (active, lapsed or not, + submitted); kept
    # in the transaction that changes them (assignment.py). Only a hint for picking
    # candidates fast: the slots are always re-counted under the task's row lock.
    n_held = models.IntegerField(default=0, db_default=0, editable=False)
    # Why this prompt was put to labelers: the generate job's selection policy ("random",
    # "rm_spread", "rm_disagreement") and the prompt's score under it (spread: smaller = the
    # reward model less sure; disagreement: larger = its checkpoints disagree more).
    # db_default: rows written by plain SQL (bulk loads, the labeling benchmark) get it too
    selection_policy = models.CharField(max_length=32, blank=True, default="", db_default="")
    selection_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(k__gte=MIN_K) & Q(k__lte=MAX_K), name="task_k_range"
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="task_overlap_positive"),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_ranks__isnull=False),
                name="task_gold_has_reference",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "source", "is_gold"]),
            # assignment._claim: open served tasks of a project, fullest first.
            models.Index(
                fields=["project", "is_gold", "-n_held", "id"],
                condition=Q(n_held__lt=F("overlap"), source__in=["labeling", "evaluation"]),
                name="task_open_fullest",
            ),
        ]

    def __str__(self):
        return f"task {self.pk} (K={self.k})"

    def ordered_responses(self):
        """Responses in the task's canonical position order."""
        return [tr.response for tr in self.task_responses.select_related("response")]


class TaskResponse(models.Model):
    task = models.ForeignKey(RankingTask, on_delete=models.CASCADE, related_name="task_responses")
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["task_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "response"], name="task_response_unique"),
            models.UniqueConstraint(fields=["task", "position"], name="task_position_unique"),
            models.CheckConstraint(condition=Q(position__lt=MAX_K), name="task_position_range"),
        ]

    def __str__(self):
        return f"{self.task} position {self.position}"


class Assignment(models.Model):
    """A labeler holding one slot of a task under a lease."""

    Status = vocabulary.AssignmentStatus

    task = models.ForeignKey(RankingTask, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.TextField(blank=True, default="")
    draft = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A labeler holds or does a task at most once, whatever the outcome.
            models.UniqueConstraint(fields=["task", "labeler"], name="assignment_one_per_labeler"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("leased_at")), name="assignment_lease_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=vocabulary.AssignmentStatus.values),
                name="assignment_status",
            ),
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(skip_reason=""),
                name="assignment_skip_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["task", "status"]),
            models.Index(
                fields=["expires_at"], condition=Q(status="active"), name="assignment_active_lease"
            ),
        ]

    def __str__(self):
        return f"{self.labeler} on {self.task} ({self.status})"


class Ranking(models.Model):
    """One labeler's submitted ranking of a task; immutable once submitted.

    A correction is a new row with ``version`` + 1 that ``supersedes`` the old one; only
    the row with ``is_current`` counts in exports and statistics.
    """

    task = models.ForeignKey(RankingTask, on_delete=models.CASCADE, related_name="rankings")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings"
    )
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="ranking"
    )
    version = models.PositiveSmallIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    is_current = models.BooleanField(default=True)
    all_unacceptable = models.BooleanField(
        default=False, help_text="The labeler judged every response unacceptable."
    )
    comment = models.TextField(blank=True, default="")
    seconds_spent = models.FloatField(default=0)
    submission_key = models.CharField(
        max_length=64, blank=True, default="", help_text="Client idempotency key."
    )
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "labeler", "version"], name="ranking_version_unique"
            ),
            models.UniqueConstraint(
                fields=["task", "labeler"],
                condition=Q(is_current=True),
                name="ranking_one_current",
            ),
            models.UniqueConstraint(
                fields=["labeler", "submission_key"],
                condition=~Q(submission_key=""),
                name="ranking_submission_key",
            ),
            models.CheckConstraint(condition=Q(seconds_spent__gte=0), name="ranking_seconds"),
            models.CheckConstraint(condition=Q(version__gte=1), name="ranking_version_positive"),
        ]
        indexes = [models.Index(fields=["task", "is_current"])]

    def __str__(self):
        return f"ranking {self.pk} of {self.task} by {self.labeler}"


class RankingItem(models.Model):
    """A response's place in one ranking: rank (equal = tie), Likert rating, flags."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="items")
    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField()
    likert = models.PositiveSmallIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["ranking_id", "rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ranking", "response"], name="item_one_per_response"),
            models.CheckConstraint(
                condition=Q(rank__gte=1) & Q(rank__lte=MAX_K), name="item_rank_range"
            ),
            models.CheckConstraint(
                condition=Q(likert__isnull=True)
                | (Q(likert__gte=LIKERT_MIN) & Q(likert__lte=LIKERT_MAX)),
                name="item_likert_range",
            ),
        ]

    def __str__(self):
        return f"rank {self.rank} in {self.ranking}"


class Qualification(models.Model):
    """An admin's screening decision about a labeler in a project; append-only, the latest
    row is in force (so the history of approvals and revocations is kept)."""

    class Decision(models.TextChoices):
        APPROVED = "approved"
        REVOKED = "revoked"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="qualifications")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qualifications"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="qualification_decisions"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True, default="")
    # The candidate's results when the decision was taken.
    gold_agreement = models.FloatField(null=True, blank=True)
    gold_tasks = models.PositiveIntegerField(default=0)
    demonstration_acceptance = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=["approved", "revoked"]), name="qualification_decision"
            ),
        ]
        indexes = [models.Index(fields=["project", "user", "-decided_at"])]

    def __str__(self):
        return f"{self.user} {self.decision} in {self.project}"
