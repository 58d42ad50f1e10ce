from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from training.urls import models_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("api.urls")),
    # before the dashboard's own urls: "training" would otherwise read as a project's slug
    path("dashboard/training/", include("pipelines.urls")),
    path("dashboard/<slug:slug>/evaluations/", include("evaluations.urls")),
    path("dashboard/<slug:slug>/jobs/", include("training.urls")),
    path("dashboard/<slug:slug>/models/", include(models_urlpatterns)),
    path("dashboard/", include("labeling.dashboard_urls")),
    path("", include("labeling.urls")),
]
