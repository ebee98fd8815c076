"""Dependencies between units, asks and offers, peer reviews and stored findings."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from lockstep.core.snapshot import DependencyState
from lockstep.goals.models import Cycle, Initiative, KeyResult, Objective
from lockstep.org.models import Organisation, Person, Unit


class Dependency(models.Model):
    """Unit `requester` needs `title` from unit `provider` by `needed_by`.

    Attached to one of the requester's KRs or initiatives; once accepted, linked to the
    provider's KR or initiative that delivers it.
    """

    class State(models.TextChoices):
        # The same states as core.snapshot.DependencyState (a test keeps them equal).
        REQUESTED = "requested"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        COUNTERED = "countered"
        DELIVERED = "delivered"
        MISSED = "missed"
        CANCELLED = "cancelled"

    # Still binding on the provider. Such a dependency is late once the day it is needed by
    # has passed: the one rule of "late" for every page, list, count and the API.
    OPEN_STATES = (State.REQUESTED, State.COUNTERED, State.ACCEPTED)

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="dependencies"
    )
    key = models.SlugField(max_length=100)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    requester_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    provider_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    requester_kr = models.ForeignKey(
        KeyResult, null=True, blank=True, on_delete=models.CASCADE, related_name="needs"
    )
    requester_initiative = models.ForeignKey(
        Initiative, null=True, blank=True, on_delete=models.CASCADE, related_name="needs"
    )
    provider_kr = models.ForeignKey(
        KeyResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="delivers"
    )
    provider_initiative = models.ForeignKey(
        Initiative, null=True, blank=True, on_delete=models.SET_NULL, related_name="delivers"
    )
    needed_by = models.DateField()
    counter_date = models.DateField(null=True, blank=True)
    effort = models.FloatField(default=0)
    state = models.CharField(
        max_length=10, choices=State.choices, default=DependencyState.REQUESTED
    )
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["needed_by", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="dependency_key_unique"),
            models.CheckConstraint(
                condition=Q(requester_kr__isnull=False) ^ Q(requester_initiative__isnull=False),
                name="dependency_one_requester_item",
            ),
            models.CheckConstraint(
                condition=~Q(requester_unit=models.F("provider_unit")),
                name="dependency_not_on_itself",
            ),
            models.CheckConstraint(condition=Q(effort__gte=0), name="dependency_effort_positive"),
        ]
        indexes = [
            models.Index(fields=["organisation", "provider_unit", "state"]),
            models.Index(fields=["organisation", "requester_unit", "state"]),
            # Dependency health on the dashboard: the pairs of a date range (covering).
            models.Index(
                fields=["organisation", "needed_by", "state", "requester_unit", "provider_unit"],
                name="dependency_needed_by_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def late_q(cls, today: dt.date) -> Q:
        return Q(state__in=cls.OPEN_STATES, needed_by__lt=today)

    @classmethod
    def late_on(cls, state: str, needed_by: dt.date, today: dt.date) -> bool:
        return state in cls.OPEN_STATES and needed_by < today

    def is_late(self, today: dt.date) -> bool:
        return self.late_on(self.state, self.needed_by, today)


class AskOffer(models.Model):
    """What a unit needs from, or offers to, a peer unit for a cycle (peer leaders' lunch)."""

    class Kind(models.TextChoices):
        ASK = "ask"
        OFFER = "offer"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="asks_offers")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    from_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    to_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    author = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dependency = models.OneToOneField(
        Dependency, null=True, blank=True, on_delete=models.SET_NULL, related_name="ask"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_unit=models.F("to_unit")), name="askoffer_between_peers"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.text[:60]}"


class Review(models.Model):
    """A peer unit asked to review a draft objective before it is published."""

    class State(models.TextChoices):
        PENDING = "pending"
        COMMENTED = "commented"
        CHANGES_PROPOSED = "changes_proposed"
        ENDORSED = "endorsed"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="reviews")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="reviews")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["objective", "unit"], name="review_once_per_unit")
        ]

    def __str__(self) -> str:
        return f"review of {self.objective_id} by {self.unit_id}"


class ReviewNote(models.Model):
    """A reviewer's comment, proposed change or endorsement (append-only)."""

    class Kind(models.TextChoices):
        COMMENT = "comment"
        PROPOSAL = "proposal"
        ENDORSEMENT = "endorsement"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.text[:60]}"


class Finding(models.Model):
    """A problem the alignment engine found, stored so pages read rather than recompute."""

    class Severity(models.TextChoices):
        ERROR = "error"
        WARNING = "warning"
        INFO = "info"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="findings"
    )
    key = models.CharField(max_length=200)
    code = models.CharField(max_length=40)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    subject_type = models.CharField(max_length=20)
    subject_id = models.BigIntegerField()
    units = models.ManyToManyField(Unit, blank=True, related_name="findings")
    title = models.CharField(max_length=500)
    explanation = models.JSONField(default=list)
    suggestion = models.TextField(blank=True)
    links = models.JSONField(default=list)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["severity", "code", "key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="finding_key_unique")
        ]
        indexes = [
            models.Index(fields=["organisation", "code"]),
            models.Index(fields=["organisation", "subject_type", "subject_id"]),
            # The dashboard's at-risk list: the newest errors, then the newest warnings.
            # (Read backwards: first_seen_at, id descending, as the list orders them.)
            models.Index(
                fields=["organisation", "severity", "first_seen_at", "id"],
                name="finding_newest_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title
