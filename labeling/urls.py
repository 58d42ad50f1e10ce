from django.urls import path

from labeling import views

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/rank/", views.rank_next, name="rank-next"),
    path("p/<slug:slug>/rank/<int:assignment_id>/", views.rank_task, name="rank-task"),
    path("p/<slug:slug>/rank/<int:assignment_id>/draft/", views.rank_draft, name="rank-draft"),
    path("p/<slug:slug>/rank/<int:assignment_id>/skip/", views.rank_skip, name="rank-skip"),
    path("p/<slug:slug>/demonstrate/", views.demonstrate, name="demonstrate"),
    path("p/<slug:slug>/review/", views.review_list, name="review"),
    path(
        "p/<slug:slug>/review/<int:demonstration_id>/",
        views.review_decide,
        name="review-decide",
    ),
]
