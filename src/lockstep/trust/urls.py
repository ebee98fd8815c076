"""Account pages: API tokens, password change, password reset by e-mail."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from lockstep.trust import views

urlpatterns = [
    path("account/tokens/", views.api_tokens, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path(
        "account/password/",
        views.PasswordChange.as_view(
            template_name="trust/password_change_form.html",
            success_url=reverse_lazy("password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="trust/password_change_done.html"),
        name="password-change-done",
    ),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="trust/password_reset_form.html",
            success_url=reverse_lazy("password-reset-done"),
            email_template_name="trust/reset_email.txt",
            subject_template_name="trust/reset_subject.txt",
        ),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="trust/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirm.as_view(
            template_name="trust/password_reset_confirm.html",
            success_url=reverse_lazy("password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="trust/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
]
