"""The training page of the dashboard (staff only): each project's retraining schedules with
their last and next run. Served here so that labeling's dashboard never imports pipelines."""

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from . import retraining


@staff_member_required
def schedules(request):
    return render(request, "pipelines/schedules.html", {"rows": retraining.overview()})
