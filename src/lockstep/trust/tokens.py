"""Personal API tokens: created and revoked by their owner, stored only as a hash.

A token reads `lst_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole
token must equal the stored digest (compared in constant time). The secret has 256 bits of
randomness, so a fast hash is enough: slow password hashes guard guessable passwords, not
random keys. A read token may only read (GET, HEAD, OPTIONS); a write token acts with the
full rights of its person. Tokens cannot create tokens (a leaked token must not mint more),
and last use is recorded at most once a minute to keep reads from writing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from lockstep.activity.services import event_record
from lockstep.errors import Forbidden, NotFound, ValidationFailed
from lockstep.org.models import Person
from lockstep.trust.models import ApiToken

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
TOUCH_EVERY = dt.timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _snapshot(token: ApiToken) -> dict[str, object]:
    return {"name": token.name, "scope": token.scope, "prefix": token.prefix}


@transaction.atomic
def token_create(*, person: Person, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token for `person`; returns the row and the token text (shown once)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed.on("name", "must be 1 to 100 characters")
    if scope not in ApiToken.Scope.values:
        raise ValidationFailed.on("scope", "must be read or write")
    if person.user_id is None:
        raise ValidationFailed.on("person", "has no sign-in account")
    prefix = secrets.token_hex(6)
    text = f"lst_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        organisation=person.organisation,
        person=person,
        name=name,
        prefix=prefix,
        digest=_digest(text),
        scope=scope,
        created_at=timezone.now(),
    )
    event_record(
        organisation=person.organisation,
        actor=person,
        verb="api_token.created",
        obj=token,
        after=_snapshot(token),
    )
    return token, text


@transaction.atomic
def token_revoke(*, person: Person, token_id: int) -> ApiToken:
    """Revoke one of `person`'s own tokens; it stops working at once."""
    token = ApiToken.objects.select_for_update().filter(person=person, pk=token_id).first()
    if token is None:
        raise NotFound(f"API token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        event_record(
            organisation=person.organisation,
            actor=person,
            verb="api_token.revoked",
            obj=token,
            before=_snapshot(token),
        )
    return token


def token_find(text: str) -> ApiToken | None:
    """The live token `text` is, or None (unknown, wrong secret, revoked, person archived)."""
    parts = text.split("_", 2)  # the secret may itself hold underscores
    if len(parts) != 3 or parts[0] != "lst":
        return None
    token = (
        ApiToken.objects.select_related("person__user", "person__organisation")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.digest, _digest(text)):
        return None
    person = token.person
    if person.archived_at is not None or person.user is None or not person.user.is_active:
        return None
    return token


class TokenAuth(HttpBearer):
    """`Authorization: Bearer lst_…` for the JSON API, beside the session cookie."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = token_find(token)
        if found is None:
            raise AuthenticationError(401, "invalid or revoked API token")
        if found.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            raise Forbidden("this API token may only read; create a write token to change")
        now = timezone.now()
        if found.last_used_at is None or found.last_used_at < now - TOUCH_EVERY:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        request.user = found.person.user  # type: ignore[assignment]  # current_person reads it
        request.api_token = found  # type: ignore[attr-defined]
        return found


@transaction.atomic
def password_changed(person: Person, *, reset: bool) -> int:
    """Record a new password in the audit trail (never the password itself).

    After a reset by e-mail, which is how a person whose password leaked gets back in,
    every live API token of theirs is revoked too: whoever had the password may have
    minted one. A plain change keeps them. Returns the number revoked.
    """
    revoked = 0
    if reset:
        revoked = ApiToken.objects.filter(person=person, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    event_record(
        organisation=person.organisation,
        actor=person,
        verb="account.password_reset" if reset else "account.password_changed",
        obj=person,
        after={"api_tokens_revoked": revoked},
    )
    return revoked
