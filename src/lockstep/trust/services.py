"""Idempotency keys: a POST retried with the same `Idempotency-Key` happens once.

A client that lost the answer to a POST (time-out, dropped connection) cannot tell whether
it happened; with a key of its choosing it can simply send the request again. Lockstep
keeps the key with a hash of the request and the answer it gave, written in the same
transaction as the change itself, so either both exist or neither does. A retry with the
same key and the same request gets the stored answer again (and changes nothing); the same
key with a different request is refused, because the client has mixed up its keys. Two
copies of the request arriving at once serialise on the key's unique index: the second
rolls back its own work and answers with the first one's result. Keys are kept for a day
(the window of the IETF draft "The Idempotency-Key HTTP Header Field" examples), per person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from lockstep.errors import LockstepError, ValidationFailed
from lockstep.org.models import Person
from lockstep.trust.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEEP = dt.timedelta(hours=24)
MAX_KEY = 255


class KeyReused(LockstepError):
    status = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Answer:
    """What an idempotent POST answered: its status and JSON body, and whether replayed."""

    status: int
    body: Any
    replayed: bool = False


def _checked_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable():
        raise ValidationFailed.on(HEADER, f"must be 1 to {MAX_KEY} printable characters")
    return key


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same request: method, path and body bytes."""
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), body)).hexdigest()


def _stored(person: Person, key: str, endpoint: str, digest: str) -> Answer | None:
    row = IdempotencyKey.objects.filter(person=person, key=key).first()
    if row is None or row.created_at < timezone.now() - KEEP:
        return None
    if row.request_hash != digest:  # the hash covers method and path too
        raise KeyReused(
            f"{HEADER} {key!r} was already used for a different request "
            f"({row.endpoint} at {row.created_at:%Y-%m-%d %H:%M} UTC); use a new key"
        )
    return Answer(row.status, row.response, replayed=True)


def run_once(
    *,
    person: Person,
    key: str,
    endpoint: str,
    digest: str,
    work: Callable[[], tuple[int, Any]],
) -> Answer:
    """Do `work` (status, JSON-ready body) unless this key already did it; then replay."""
    key = _checked_key(key)
    answer = _stored(person, key, endpoint, digest)
    if answer is not None:
        return answer
    now = timezone.now()
    try:
        with transaction.atomic():
            # A key past its day is free again: drop it (and this person's other old keys).
            IdempotencyKey.objects.filter(person=person, created_at__lt=now - KEEP).delete()
            status, body = work()
            IdempotencyKey.objects.create(
                organisation_id=person.organisation_id,
                person=person,
                key=key,
                endpoint=endpoint,
                request_hash=digest,
                status=status,
                response=body,
                created_at=now,
            )
    except IntegrityError:
        # The same key committed meanwhile (a concurrent copy of this request): our work is
        # rolled back with the failed insert, and the client gets the first copy's answer.
        answer = _stored(person, key, endpoint, digest)
        if answer is None:
            raise
        return answer
    return Answer(status, body)
