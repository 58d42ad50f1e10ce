from django import forms
from django.contrib import admin, messages

from labeling import projects, roles
from labeling.assignment import demonstrations
from labeling.errors import ServiceError
from labeling.intake import prompts, ranking_tasks, responses
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
    """Saved by ``ProjectAdmin.save_formset`` through ``roles.grant`` / ``roles.revoke``."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ProjectAdminForm(forms.ModelForm):
    """The project's settings, checked by the projects service (the rules the API applies),
    so a refusal shows on its field."""

    class Meta:
        model = Project
        fields = ["slug", *projects.SETTINGS]

    def service_values(self) -> dict:
        """What the service gets: every setting for a new project, the changed ones else."""
        names = self.changed_data if self.instance.pk else self.cleaned_data
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}

    def clean(self):
        data = super().clean()
        stored = Project.objects.get(pk=self.instance.pk) if self.instance.pk else None
        try:
            projects.clean_settings(self.service_values(), stored)
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


def _admin_of(request, project) -> bool:
    return roles.has_role(request.user, project, "admin")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    """Writes go through ``labeling.projects`` and ``labeling.roles``. As in the API, only
    superusers create projects and a project's admins change it."""

    form = ProjectAdminForm
    list_display = ["slug", "name", "k_min", "k_max", "overlap", "gold_rate", "created_at"]
    search_fields = ["slug", "name"]
    list_filter = ["allow_ties"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        visible = roles.projects_for(request.user, "labeler").values("pk")
        return super().get_queryset(request).filter(pk__in=visible)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _admin_of(request, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or _admin_of(request, obj))

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        if change:
            # the form has set the new values on obj: the service compares with the stored row
            projects.update_project(Project.objects.get(pk=obj.pk), **values)
            return
        created = projects.create_project(**values)
        # the admin goes on with obj (its memberships, the redirect): make it the new row
        obj.pk, obj.created_at = created.pk, created.created_at
        obj._state.adding, obj._state.db = False, created._state.db

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        project = form.instance
        # what formset.save() would have recorded, for the admin's history message
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for row in formset.deleted_forms:
            if row.instance.pk is not None:
                stored = Membership.objects.select_related("user").get(pk=row.instance.pk)
                roles.revoke(stored.user, project)
                formset.deleted_objects.append(stored)
        for row in formset.forms:
            if row in formset.deleted_forms or not row.has_changed():
                continue
            added = row.instance.pk is None
            if not added and "user" in row.changed_data:
                # another user on the same row: the old one loses the role
                roles.revoke(Membership.objects.get(pk=row.instance.pk).user, project)
            granted = roles.grant(row.cleaned_data["user"], project, row.cleaned_data["role"])
            if added:
                formset.new_objects.append(granted)
            else:
                formset.changed_objects.append((granted, row.changed_data))


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Roles are granted and revoked through ``labeling.roles`` (which keeps the role groups
    in step), by the admins of the project."""

    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        admin_of = roles.projects_for(request.user, "admin")
        return super().get_queryset(request).filter(project__in=admin_of)

    def get_readonly_fields(self, request, obj=None):
        # a membership is one user in one project: another pair is another membership
        return ["user", "project"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project":
            kwargs["queryset"] = roles.projects_for(request.user, "admin")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _admin_of(request, obj.project))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or _admin_of(request, obj.project))

    def save_model(self, request, obj, form, change):
        granted = roles.grant(obj.user, obj.project, obj.role)
        obj.pk, obj.created_at, obj._state.adding = granted.pk, granted.created_at, False

    def delete_model(self, request, obj):
        roles.revoke(obj.user, obj.project)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "project"):
            roles.revoke(membership.user, membership.project)


class PromptAdminForm(forms.ModelForm):
    """The fields the prompt service lets change, checked by it."""

    class Meta:
        model = Prompt
        fields = ["category", "external_id", "metadata"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is not None:
            changes = {name: data[name] for name in self.changed_data if name in data}
            try:
                prompts.check_update(self.instance, **changes)
            except ServiceError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    """Prompts come in through the imports and the API, which apply dedup, splits and caps.
    Here only the category, the external id and the metadata are edited, through
    ``prompts.update_prompt``: the text is what labelers ranked, the dedup key derives from
    it and the split from the source user."""

    form = PromptAdminForm
    list_display = ["id", "project", "short_text", "category", "split", "source_user"]
    list_filter = ["project", "category", "split"]
    search_fields = ["text", "external_id", "source_user"]
    readonly_fields = [
        "project", "text", "messages", "source_user", "split", "dedup_key", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        prompts.update_prompt(Prompt.objects.get(pk=obj.pk), **changes)

    @admin.display(description="prompt")
    def short_text(self, obj):
        return str(obj)


class ResponseAdminForm(forms.ModelForm):
    """The fields the response service lets change, checked by it."""

    class Meta:
        model = Response
        fields = ["model_name", "metadata"]

    def clean(self):
        data = super().clean()
        changes = {name: data[name] for name in self.changed_data if name in data}
        try:
            responses.check_details(**changes)
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt_id", "short_text", "origin", "model_name", "created_at"]
    list_filter = ["origin", "model_name", "prompt__project"]
    search_fields = ["text", "model_name"]
    # the text is what labelers ranked (and its hash derives from it): never edited here
    readonly_fields = ["prompt", "text", "text_hash", "origin", "checkpoint_id", "created_at"]
    form = ResponseAdminForm

    def has_add_permission(self, request):
        return False  # responses come in through the imports, the API and generation jobs

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        responses.update_response(Response.objects.get(pk=obj.pk), **changes)

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
    """A task's responses are fixed when it is built (what labelers rank): shown only."""

    model = TaskResponse
    extra = 0
    can_delete = False
    readonly_fields = ["position", "response"]

    def has_add_permission(self, request, obj=None):
        return False


class RankingTaskAdminForm(forms.ModelForm):
    """Only the gold reference is edited here (a reviewer's), checked as at creation."""

    class Meta:
        model = RankingTask
        fields = ["is_gold", "gold_ranks"]

    def clean(self):
        data = super().clean()
        try:
            ranking_tasks.clean_gold(self.instance, data.get("is_gold"), data.get("gold_ranks"))
        except ServiceError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(RankingTask)
class RankingTaskAdmin(admin.ModelAdmin):
    """Tasks are built by ``ranking_tasks`` (the API, ``create_tasks``, imports, generation
    jobs): here their shape is shown, and the gold reference set through ``set_gold``."""

    form = RankingTaskAdminForm
    list_display = ["id", "project", "prompt_id", "k", "overlap", "source", "is_gold"]
    list_filter = ["project", "source", "is_gold", "k"]
    search_fields = ["prompt__text"]
    readonly_fields = ["project", "prompt", "k", "overlap", "source", "n_held", "created_at"]
    inlines = [TaskResponseInline]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        stored = RankingTask.objects.select_related("project").get(pk=obj.pk)
        data = form.cleaned_data
        ranking_tasks.set_gold(stored, data["is_gold"], data["gold_ranks"])


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
