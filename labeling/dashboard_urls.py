"""Included at ``dashboard/`` by preflab/urls.py."""

from django.urls import path

from labeling import dashboard, settings_views

urlpatterns = [
    path("", dashboard.index, name="dashboard"),
    path("plotly.js", dashboard.plotly_js, name="dashboard-plotly-js"),
    path("<slug:slug>/", dashboard.project_dashboard, name="dashboard-project"),
    path("<slug:slug>/disagreements/", dashboard.disagreements, name="dashboard-disagreements"),
    path("<slug:slug>/screening/", dashboard.screening_view, name="dashboard-screening"),
    path(
        "<slug:slug>/screening/<int:user_id>/",
        dashboard.screening_decide,
        name="dashboard-screening-decide",
    ),
    path("<slug:slug>/settings/", settings_views.project_settings, name="dashboard-settings"),
]
