"""Included at ``dashboard/training/`` by preflab/urls.py."""

from django.urls import path

from . import schedule_views, views

urlpatterns = [
    path("", views.schedules, name="dashboard-training"),
    # the forms of the schedules part of a project's settings page (dashboard-settings)
    path(
        "<slug:slug>/schedules/", schedule_views.create_schedule, name="dashboard-schedule-create"
    ),
    path(
        "<slug:slug>/schedules/<int:schedule_id>/",
        schedule_views.update_schedule,
        name="dashboard-schedule-update",
    ),
    path(
        "<slug:slug>/schedules/<int:schedule_id>/delete/",
        schedule_views.delete_schedule,
        name="dashboard-schedule-delete",
    ),
]
