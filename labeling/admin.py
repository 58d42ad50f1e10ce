from django.contrib import admin, messages

from labeling.assignment import demonstrations
from labeling.models import (
    Assignment,
    Demonstration,
    Membership,
    Project,
    Prompt,
    Qualification,
    Ranking,
    RankingItem,
    RankingTask,
    Response,
    TaskResponse,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Submitted work is history: it is viewed in the admin, never edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "k_min", "k_max", "overlap", "gold_rate", "created_at"]
    search_fields = ["slug", "name"]
    list_filter = ["allow_ties"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    autocomplete_fields = ["user"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    """Prompts come in through the imports and the API, which apply dedup, splits and caps.
    Here only the category, the external id and the metadata are edited: the text is what
    labelers ranked, the dedup key derives from it and the split from the source user."""

    list_display = ["id", "project", "short_text", "category", "split", "source_user"]
    list_filter = ["project", "category", "split"]
    search_fields = ["text", "external_id", "source_user"]
    readonly_fields = [
        "project", "text", "messages", "source_user", "split", "dedup_key", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    @admin.display(description="prompt")
    def short_text(self, obj):
        return str(obj)


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt_id", "short_text", "origin", "model_name", "created_at"]
    list_filter = ["origin", "model_name", "prompt__project"]
    search_fields = ["text", "model_name"]
    # the text is what labelers ranked (and its hash derives from it): never edited here
    readonly_fields = ["prompt", "text", "text_hash", "origin", "checkpoint", "created_at"]

    def has_add_permission(self, request):
        return False  # responses come in through the imports, the API and generation jobs

    @admin.display(description="response")
    def short_text(self, obj):
        return str(obj)


@admin.register(Demonstration)
class DemonstrationAdmin(ReadOnlyAdmin):
    """A labeler's text is their submission, and a verdict is given once, by the review
    service's rules (a reviewer of the project, not the author; a rejection says why): here
    as the accept action, or on the review page, where a rejection gets its note."""

    list_display = ["id", "prompt_id", "author", "status", "reviewed_by", "created_at"]
    list_filter = ["status", "prompt__project"]
    search_fields = ["text", "author__username", "review_note"]
    actions = ["accept"]

    @admin.action(description="Accept the selected demonstrations", permissions=["view"])
    def accept(self, request, queryset):
        accepted = 0
        for demo in queryset.select_related("prompt__project"):
            try:
                demonstrations.review(demo, request.user, accept=True)
                accepted += 1
            except demonstrations.DemonstrationError as exc:
                self.message_user(request, f"demonstration {demo.pk}: {exc}", messages.WARNING)
        if accepted:
            self.message_user(request, f"{accepted} demonstration(s) accepted", messages.SUCCESS)


class TaskResponseInline(admin.TabularInline):
    model = TaskResponse
    extra = 0
    raw_id_fields = ["response"]


@admin.register(RankingTask)
class RankingTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt_id", "k", "overlap", "source", "is_gold"]
    list_filter = ["project", "source", "is_gold", "k"]
    search_fields = ["prompt__text"]
    raw_id_fields = ["prompt"]
    inlines = [TaskResponseInline]


@admin.register(TaskResponse)
class TaskResponseAdmin(ReadOnlyAdmin):
    list_display = ["task", "position", "response"]
    list_filter = ["task__project"]
    search_fields = ["response__text"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "labeler", "status", "leased_at", "expires_at"]
    list_filter = ["status", "task__project"]
    search_fields = ["labeler__username", "skip_reason"]


class RankingItemInline(admin.TabularInline):
    model = RankingItem
    extra = 0
    can_delete = False
    readonly_fields = ["response", "rank", "likert", "flags"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Ranking)
class RankingAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "labeler", "version", "is_current", "all_unacceptable"]
    list_filter = ["is_current", "all_unacceptable", "task__project"]
    search_fields = ["labeler__username", "comment"]
    inlines = [RankingItemInline]


@admin.register(RankingItem)
class RankingItemAdmin(ReadOnlyAdmin):
    list_display = ["ranking", "response", "rank", "likert"]
    list_filter = ["likert", "ranking__task__project"]
    search_fields = ["response__text"]


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyAdmin):
    """Screening decisions are a history: made on the dashboard's screening page."""

    list_display = ["user", "project", "decision", "decided_by", "decided_at", "gold_agreement"]
    list_filter = ["decision", "project"]
    search_fields = ["user__username", "note"]
