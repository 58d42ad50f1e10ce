"""Who may see and do what through the API, from the per-project roles in labeling.roles.

Visibility is enforced by scoping querysets (``visible_*``): an object outside them is a
404, so the API never confirms that something exists in a project the caller cannot see.
Actions on a visible object that need a higher role are a 403 (``require_role``).
Anonymous requests never get past ``IsAuthenticated`` (401, with the token challenge).
"""

from django.db.models import Exists, OuterRef, Q
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from labeling import roles
from labeling.models import Assignment, Membership, Project


def project_ids(request, role: str) -> set[int]:
    """Ids of the projects where the caller holds ``role`` or above (once per request)."""
    cache = request.__dict__.setdefault("_preflab_project_ids", {})
    if role not in cache:
        if not request.user.is_authenticated:
            cache[role] = set()
        elif request.user.is_superuser:
            cache[role] = set(roles.projects_for(request.user, role).values_list("pk", flat=True))
        else:
            # One query per request, whatever roles are asked about.
            held = request.__dict__.get("_preflab_roles")
            if held is None:
                held = request.__dict__["_preflab_roles"] = dict(
                    Membership.objects.filter(user=request.user).values_list("project_id", "role")
                )
            floor = roles.ROLE_ORDER[role]
            cache[role] = {
                pk for pk, held_role in held.items() if roles.ROLE_ORDER[held_role] >= floor
            }
    return cache[role]


def require_role(request, project: Project, role: str, action: str = "do this"):
    if not (request.user.is_superuser or project.pk in project_ids(request, role)):
        raise PermissionDenied(f"You need the {role} role in {project.slug} to {action}.")


def in_projects(queryset, request, role: str, *, project_path: str = "project"):
    """Rows of the projects where the caller holds ``role`` or above."""
    if request.user.is_superuser:
        return queryset
    return queryset.filter(**{f"{project_path}__in": project_ids(request, role)})


def visible_to_reviewers_or_owner(queryset, request, *, project_path: str, owner_path: str):
    """Everything in the caller's reviewer/admin projects, plus the caller's own rows."""
    if request.user.is_superuser:
        return queryset
    return queryset.filter(
        Q(**{f"{project_path}__in": project_ids(request, "reviewer")})
        | Q(**{owner_path: request.user})
    )


def visible_tasks(queryset, request):
    """Reviewers/admins see every task of their projects; labelers those assigned to them."""
    if request.user.is_superuser:
        return queryset
    assigned = Assignment.objects.filter(task=OuterRef("pk"), labeler=request.user)
    return queryset.filter(Q(project__in=project_ids(request, "reviewer")) | Exists(assigned))


class IsReviewerSomewhere(BasePermission):
    """For platform-wide resources (checkpoints): reviewers and admins of any project."""

    message = "You need the reviewer role in a project."

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.is_superuser or project_ids(request, "reviewer"))
        )
