"""Included at ``dashboard/<slug>/jobs/`` by preflab/urls.py; ``models_urlpatterns`` at
``dashboard/<slug>/models/``."""

from django.urls import path

from . import start_views, views

urlpatterns = [
    path("", views.jobs_list, name="dashboard-jobs"),
    path("live/", views.jobs_live, name="dashboard-jobs-live"),
    path("new/", start_views.job_start, name="dashboard-job-new"),
    path("<int:job_id>/", views.job_page, name="dashboard-job"),
    path("<int:job_id>/live/", views.job_live, name="dashboard-job-live"),
    path("<int:job_id>/cancel/", views.job_cancel, name="dashboard-job-cancel"),
    path("<int:job_id>/retry/", views.job_retry, name="dashboard-job-retry"),
]

models_urlpatterns = [
    path("", views.models_page, name="dashboard-models"),
    path(
        "<int:checkpoint_id>/download/",
        views.checkpoint_download,
        name="dashboard-checkpoint-download",
    ),
]
