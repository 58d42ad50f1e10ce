"""Per-project roles: labeler < reviewer < admin.

Django groups of the same names carry the model permissions each role needs in the
admin; the Membership row says in which project a user holds the role. Staff
superusers are admins everywhere.

Memberships are written only by ``grant`` and ``revoke`` (the admin, the demo, the
simulator and the tests call them), which keep a user's role groups equal to the roles
they hold in some project.
"""

from django.contrib.auth.models import Group
from django.db import transaction

from labeling.errors import ServiceError
from labeling.models import Membership, Project
from labeling.vocabulary import ROLE_ORDER


class RoleError(ServiceError):
    """A refused membership; ``field`` names what to fix."""


def role_in(user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return "admin"
    membership = Membership.objects.filter(user=user, project=project).only("role").first()
    return membership.role if membership else None


def has_role(user, project: Project, role: str) -> bool:
    """True when the user's role in the project is ``role`` or above."""
    held = role_in(user, project)
    return held is not None and ROLE_ORDER[held] >= ROLE_ORDER[role]


def grant(user, project: Project, role: str) -> Membership:
    """Give ``user`` the role ``role`` in ``project`` (replacing the role they held there)."""
    if role not in ROLE_ORDER:
        raise RoleError("role", f"must be one of {', '.join(ROLE_ORDER)}, not {role!r}")
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            user=user, project=project, defaults={"role": role}
        )
        sync_groups(user)
    return membership


def revoke(user, project: Project) -> bool:
    """Take away ``user``'s role in ``project``; False if they held none there."""
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(user=user, project=project).delete()
        sync_groups(user)
    return bool(deleted)


def sync_groups(user) -> None:
    """The user's role groups are the roles they hold in some project: a role taken away
    (or changed) in the last project where they held it takes its admin permissions too."""
    held = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    groups = {group.name: group for group in Group.objects.filter(name__in=ROLE_ORDER)}
    for role in held - set(groups):
        groups[role], _ = Group.objects.get_or_create(name=role)
    user.groups.add(*(groups[role] for role in held))
    user.groups.remove(*(group for role, group in groups.items() if role not in held))


def projects_for(user, role: str = "labeler"):
    """Projects where the user holds ``role`` or above."""
    if user.is_superuser:
        return Project.objects.all()
    roles = [name for name, level in ROLE_ORDER.items() if level >= ROLE_ORDER[role]]
    return Project.objects.filter(memberships__user=user, memberships__role__in=roles)


ROLE_PERMISSIONS = {
    # Labelers work through the UI; in the admin they may only look.
    "labeler": {"labeling": ["view_project", "view_prompt", "view_response"]},
    "reviewer": {
        "labeling": [
            "view_project",
            "view_prompt",
            "view_response",
            "view_demonstration",
            "change_demonstration",
            "view_rankingtask",
            "add_rankingtask",
            "change_rankingtask",
            "view_ranking",
            "view_rankingitem",
            "view_assignment",
            "view_taskresponse",
        ]
    },
    "admin": {"labeling": None, "training": None},  # None = every permission of the app
}


def ensure_groups(**kwargs):
    """Create the role groups with their permissions (run after every migrate)."""
    from django.contrib.auth.models import Permission

    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for app_label, codenames in apps.items():
            query = Permission.objects.filter(content_type__app_label=app_label)
            if codenames is not None:
                query = query.filter(codename__in=codenames)
            perms.extend(query)
        group.permissions.set(perms)
