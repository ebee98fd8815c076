"""Account pages: the signed-in person's API tokens; password change and reset use Django's views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from lockstep.errors import LockstepError
from lockstep.org.models import Person
from lockstep.trust.models import ApiToken
from lockstep.trust.tokens import password_changed, token_create, token_revoke
from lockstep.web.views import page_context, person_page


def _tokens_page(
    request: HttpRequest, me: Person, *, status: int = 200, **extra: object
) -> HttpResponse:
    tokens = ApiToken.objects.filter(person=me).order_by("revoked_at", "-created_at", "-pk")
    context = page_context(me, "account", tokens=list(tokens), scopes=ApiToken.Scope, **extra)
    return render(request, "trust/tokens.html", context, status=status)


@never_cache  # the answer to a POST carries a new token's text: no copy in any cache
@person_page
def api_tokens(request: HttpRequest, me: Person) -> HttpResponse:
    if request.method != "POST":
        return _tokens_page(request, me)
    name = request.POST.get("name", "")
    scope = request.POST.get("scope", "read")
    try:
        token, text = token_create(person=me, name=name, scope=scope)
    except LockstepError as exc:
        errors = {f.field: f.message for f in exc.fields}
        return _tokens_page(request, me, status=422, errors=errors, name=name, scope=scope)
    # The token text is shown on this answer only; a reload does not show it again.
    return _tokens_page(request, me, status=201, created=token, created_text=text)


@require_POST
@person_page
def api_token_revoke(request: HttpRequest, me: Person, token_id: int) -> HttpResponse:
    token_revoke(person=me, token_id=token_id)
    return redirect("api-tokens")


def _person_of(user: Any) -> Person | None:
    return getattr(user, "person", None)


class PasswordChange(auth_views.PasswordChangeView):
    """Django's password change, recorded in the audit trail."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if (person := _person_of(form.user)) is not None:
            password_changed(person, reset=False)
        return response


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    """Django's reset by e-mail link, recorded; it also revokes the person's API tokens."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if (person := _person_of(form.user)) is not None:
            password_changed(person, reset=True)
        return response
