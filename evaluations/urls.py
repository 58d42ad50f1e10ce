"""Included at ``dashboard/<slug>/evaluations/`` by preflab/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.evaluations_page, name="dashboard-evaluations"),
    path("new/", views.create, name="dashboard-evaluations-create"),
    path("<int:campaign_id>/score/", views.score, name="dashboard-evaluations-score"),
]
