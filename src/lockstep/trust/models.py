"""Tables of the trust domain: idempotency keys of retried requests."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from lockstep.org.models import Organisation, Person


class IdempotencyKey(models.Model):
    """A POST a client may retry: the key it chose, what it asked and the answer it got."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "key"], name="idempotency_key_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.status}"


class ApiToken(models.Model):
    """A personal API token: only its hash is stored; the token is shown once, at creation."""

    class Scope(models.TextChoices):
        READ = "read", "read"
        WRITE = "write", "read and write"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.hint})"

    @property
    def hint(self) -> str:
        """How the token is named once its secret is gone: its public prefix."""
        return f"lst_{self.prefix}_…"
