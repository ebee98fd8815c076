from django.contrib.auth import views as auth_views
from django.urls import path

from lockstep.alignment import views as alignment_views
from lockstep.goals import views as goals_views
from lockstep.org import views as org_views
from lockstep.web import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("units/", org_views.unit_tree, name="unit-tree"),
    path("objectives/", goals_views.objective_list, name="objective-list"),
    path("objectives/<int:objective_id>/", goals_views.objective_detail, name="objective-detail"),
    path("key-results/<int:kr_id>/checkin/", goals_views.kr_checkin, name="kr-checkin"),
    path("findings/", alignment_views.findings, name="findings"),
    path("findings/refresh/", alignment_views.findings_refresh, name="findings-refresh"),
    path("findings/badge/", alignment_views.findings_badge, name="findings-badge"),
    path("dependencies/", alignment_views.dependencies, name="dependencies"),
    path("dependencies/request/", alignment_views.dependency_request, name="dependency-request"),
    path(
        "dependencies/<int:dependency_id>/",
        alignment_views.dependency_detail,
        name="dependency-detail",
    ),
    path(
        "dependencies/<int:dependency_id>/<slug:action>/",
        alignment_views.dependency_act,
        name="dependency-act",
    ),
    path("reviews/", alignment_views.reviews, name="reviews"),
    path("reviews/request/", alignment_views.review_request, name="review-request"),
    path("reviews/<int:review_id>/respond/", alignment_views.review_respond, name="review-respond"),
    path("asks-offers/", alignment_views.asks_offers, name="asks-offers"),
    path("asks-offers/add/", alignment_views.ask_offer_create, name="ask-offer-create"),
    path(
        "asks-offers/<int:ask_id>/request/",
        alignment_views.ask_to_dependency,
        name="ask-to-dependency",
    ),
]
