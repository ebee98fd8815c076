"""Organisations, the unit tree, people and their memberships."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Organisation(models.Model):
    """One tenant: every record belongs to exactly one organisation."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    on_track_margin = models.FloatField(default=0.10)
    at_risk_margin = models.FloatField(default=0.25)
    # Alignment engine thresholds (PRODUCT.md section 5).
    answer_window_days = models.PositiveSmallIntegerField(default=5)
    max_objectives_per_unit = models.PositiveSmallIntegerField(default=5)
    max_krs_per_objective = models.PositiveSmallIntegerField(default=5)
    low_confidence = models.PositiveSmallIntegerField(default=3)
    single_point_min_units = models.PositiveSmallIntegerField(default=3)
    task_share = models.FloatField(default=0.5)
    # When the full refresh last recomputed every stored progress and status (docs/numbers.md):
    # every stored status is at least as fresh as this.
    numbers_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Its version (trust.versions): moved by its own edits only; the numbers refresh
    # writes numbers_refreshed_at with an UPDATE that leaves it alone.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(on_track_margin__gte=0)
                & Q(at_risk_margin__lte=1)
                & Q(on_track_margin__lte=models.F("at_risk_margin")),
                name="org_margins_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    """A node of the org tree: company, division, department, team (any depth)."""

    class Kind(models.TextChoices):
        COMPANY = "company"
        DIVISION = "division"
        DEPARTMENT = "department"
        TEAM = "team"
        OTHER = "other"

    class CapacityUnit(models.TextChoices):
        HOURS = "hours"
        JOBS = "jobs"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="units")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TEAM)
    weekly_capacity = models.FloatField(null=True, blank=True)
    capacity_unit = models.CharField(
        max_length=10, choices=CapacityUnit.choices, default=CapacityUnit.HOURS
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="unit_key_unique"),
            models.CheckConstraint(
                condition=Q(weekly_capacity__isnull=True) | Q(weekly_capacity__gte=0),
                name="unit_capacity_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """Someone in the organisation; may or may not have a login."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="people")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField()
    is_org_admin = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "email"], name="person_email_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's role in a unit."""

    class Role(models.TextChoices):
        LEADER = "leader"
        MEMBER = "member"
        VIEWER = "viewer"  # reads the unit's work, private objectives included; writes nothing

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "unit"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.person_id} is {self.role} of {self.unit_id}"
