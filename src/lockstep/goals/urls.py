"""The goals domain's pages."""

from django.urls import path

from lockstep.goals import views

urlpatterns = [
    path("map/", views.alignment_map, name="alignment-map"),
    path("objectives/", views.objective_list, name="objective-list"),
    path("objectives/<int:objective_id>/", views.objective_detail, name="objective-detail"),
    path("key-results/<int:kr_id>/checkin/", views.kr_checkin, name="kr-checkin"),
]
