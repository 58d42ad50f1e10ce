"""The training page of the dashboard (staff only): each project's retraining schedules with
their last and next run, and how reward-model accuracy grows with rankings under each active
selection policy. Served here so that labeling's dashboard never imports pipelines."""

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from preflab.charts import chart

from . import retraining, selection_report


@staff_member_required
def schedules(request):
    # the template shows accuracy as a percentage with one decimal
    selection_rows = [
        {**row, "accuracy_percent": 100 * row["accuracy"]}
        for row in selection_report.rm_accuracy_by_policy()
    ]
    selection_chart = (
        chart(selection_report.figure(selection_rows), "chart-selection") if selection_rows else ""
    )
    return render(
        request,
        "pipelines/schedules.html",
        {
            "rows": retraining.overview(),
            "selection_rows": selection_rows,
            "selection_chart": selection_chart,
        },
    )
