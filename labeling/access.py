"""Who may open a project's staff pages: the decorator every dashboard app's views share."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from labeling import roles
from labeling.models import Project


def project_admin_required(view):
    """Anonymous users go to the login page, an unknown project is a 404, anyone but the
    project's admins (superusers are admins everywhere) gets a 403. The view is called with
    the project in place of its slug."""

    @login_required
    @wraps(view)
    def wrapped(request, slug, *args, **kwargs):
        project = get_object_or_404(Project, slug=slug)
        if not roles.has_role(request.user, project, "admin"):
            raise PermissionDenied("only the project's admins open this page")
        return view(request, project, *args, **kwargs)

    return wrapped
