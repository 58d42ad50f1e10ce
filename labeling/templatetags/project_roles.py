"""``{% load project_roles %}``: what the user may do in a project, for showing only the
links that lead somewhere (the views check the role again)."""

from django import template

from labeling import roles

register = template.Library()


@register.filter
def is_admin_of(user, project) -> bool:
    """``{% if user|is_admin_of:project %}``: an admin of the project (or a superuser)."""
    return project is not None and roles.has_role(user, project, "admin")
