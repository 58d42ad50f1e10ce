from django.urls import path

from . import views

urlpatterns = [
    path("v1/health/", views.health, name="api-health"),
]
