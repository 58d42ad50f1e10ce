from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import roles


@login_required
def home(request):
    projects = roles.projects_for(request.user)
    return render(request, "labeling/home.html", {"projects": projects})
