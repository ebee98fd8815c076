"""The alignment domain's pages: findings, dependencies and their map, reviews, asks and offers."""

from django.urls import path

from lockstep.alignment import views

urlpatterns = [
    path("findings/", views.findings, name="findings"),
    path("findings/refresh/", views.findings_refresh, name="findings-refresh"),
    path("findings/badge/", views.findings_badge, name="findings-badge"),
    path("dependencies/", views.dependencies, name="dependencies"),
    path("dependencies/map/", views.dependency_map, name="dependency-map"),
    path("dependencies/request/", views.dependency_request, name="dependency-request"),
    path("dependencies/<int:dependency_id>/", views.dependency_detail, name="dependency-detail"),
    path(
        "dependencies/<int:dependency_id>/<slug:action>/",
        views.dependency_act,
        name="dependency-act",
    ),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/request/", views.review_request, name="review-request"),
    path("reviews/<int:review_id>/respond/", views.review_respond, name="review-respond"),
    path("asks-offers/", views.asks_offers, name="asks-offers"),
    path("asks-offers/add/", views.ask_offer_create, name="ask-offer-create"),
    path("asks-offers/<int:ask_id>/request/", views.ask_to_dependency, name="ask-to-dependency"),
]
