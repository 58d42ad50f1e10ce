"""Memberships: granted and revoked only through labeling.roles, role groups kept in step."""

import pytest

from labeling import roles
from labeling.models import Membership, Project

pytestmark = pytest.mark.django_db


def _groups(user):
    return sorted(user.groups.values_list("name", flat=True))


def test_an_unknown_role_is_refused_on_the_role_field(project, labeler):
    with pytest.raises(roles.RoleError) as refused:
        roles.grant(labeler, project, "owner")
    assert refused.value.field == "role"
    assert roles.role_in(labeler, project) == "labeler"


def test_role_groups_are_the_roles_held_somewhere(project, labeler):
    other = Project.objects.create(slug="other", name="Other")
    roles.grant(labeler, other, "reviewer")
    assert _groups(labeler) == ["labeler", "reviewer"]
    roles.grant(labeler, project, "admin")  # labeler → admin in campaign
    assert _groups(labeler) == ["admin", "reviewer"]
    assert roles.revoke(labeler, other) is True
    assert _groups(labeler) == ["admin"]
    assert roles.revoke(labeler, other) is False  # nothing left to take there
    roles.revoke(labeler, project)
    assert _groups(labeler) == [] and not Membership.objects.filter(user=labeler).exists()
    assert roles.role_in(labeler, project) is None


def test_other_groups_are_left_alone(project, labeler):
    from django.contrib.auth.models import Group

    labeler.groups.add(Group.objects.create(name="auditors"))
    roles.revoke(labeler, project)
    assert _groups(labeler) == ["auditors"]
