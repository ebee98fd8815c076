"""The activity log: an append-only record of every change."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from lockstep.org.models import Organisation, Person


class ActivityEvent(models.Model):
    """Who changed what, when, with the state before and after."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="activity"
    )
    actor = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    verb = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    object_label = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "object_type", "object_id"]),
            models.Index(fields=["organisation", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.verb} {self.object_type}#{self.object_id}"
