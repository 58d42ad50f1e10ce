"""Included at ``dashboard/training/`` by preflab/urls.py."""

from django.urls import path

from . import views

urlpatterns = [path("", views.schedules, name="dashboard-training")]
