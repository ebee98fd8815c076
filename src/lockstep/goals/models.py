"""Cycles, objectives, key results, check-ins, initiatives and KPIs."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from lockstep.core.progress import Commitment, KRKind, Status
from lockstep.org.models import Organisation, Person, Unit


class Cycle(models.Model):
    """A time box; cycles nest (a quarter holds its weekly micro-cycles)."""

    class Kind(models.TextChoices):
        YEAR = "year"
        QUARTER = "quarter"
        MONTH = "month"
        TWO_WEEKS = "two_weeks"
        WEEK = "week"
        CUSTOM = "custom"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="cycles")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    start = models.DateField()
    end = models.DateField()
    updated_at = models.DateTimeField(auto_now=True)  # its version (trust.versions)

    class Meta:
        ordering = ["start", "key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="cycle_key_unique"),
            models.CheckConstraint(condition=Q(start__lte=F("end")), name="cycle_start_before_end"),
        ]

    def __str__(self) -> str:
        return self.name


# Stored numbers (docs/numbers.md, "Stored numbers"): progress and status as they were when
# last computed, so dashboards read rows instead of rolling up the whole tree per request.
# Kept by goals.services on every write that moves them and by the full refresh; NULL
# until first computed (rows written by the bulk path wait for the full refresh).
STATUS_CHOICES = [(s.value, s.value) for s in Status]
# An objective's stored counts of its own live KRs, one field per status, in this order.
KR_COUNTED = [Status.NOT_STARTED, Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK, Status.DONE]
KR_COUNT_FIELDS = [f"kr_{s.value}" for s in KR_COUNTED]


class Objective(models.Model):
    """A qualitative goal in one cycle."""

    class Level(models.TextChoices):
        COMPANY = "company"
        SHARED = "shared"
        UNIT = "unit"

    class State(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        CLOSED = "closed"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="objectives"
    )
    cycle = models.ForeignKey(Cycle, on_delete=models.PROTECT, related_name="objectives")
    key = models.SlugField(max_length=100)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.UNIT)
    owner_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_objectives"
    )
    contributors = models.ManyToManyField(
        Unit, blank=True, related_name="shared_objectives", through="ObjectiveContributor"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PUBLISHED)
    # Seen only by the people of its owner and contributor units and by admins; its KRs and
    # check-ins with it (goals.access.objective_visible). Its numbers still roll up.
    private = models.BooleanField(default=False)
    # Stored roll-up (see STATUS_CHOICES above): weighted progress and combined status, and
    # how many of its own live KRs stand at each status, so dashboards sum objectives
    # rather than scan key results.
    progress = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, null=True, blank=True)
    kr_not_started = models.PositiveIntegerField(null=True, blank=True)
    kr_on_track = models.PositiveIntegerField(null=True, blank=True)
    kr_at_risk = models.PositiveIntegerField(null=True, blank=True)
    kr_off_track = models.PositiveIntegerField(null=True, blank=True)
    kr_done = models.PositiveIntegerField(null=True, blank=True)
    numbers_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="objective_key_unique")
        ]
        indexes = [
            models.Index(fields=["organisation", "cycle"]),
            # The company dashboard's list: the company objectives of a cycle.
            models.Index(fields=["organisation", "level", "cycle"], name="objective_level_idx"),
            # The dashboard sums a cycle's objectives from this index alone (covering).
            models.Index(
                fields=[
                    "organisation",
                    "cycle",
                    "archived_at",
                    "owner_unit",
                    "progress",
                    "status",
                    *KR_COUNT_FIELDS,
                ],
                name="objective_dashboard_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ObjectiveContributor(models.Model):
    """A unit contributing to a shared objective."""

    objective = models.ForeignKey(Objective, on_delete=models.CASCADE)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["objective", "unit"], name="contributor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} contributes to {self.objective_id}"


class ContributionLink(models.Model):
    """`child` contributes to `parent` with a weight (many-to-many alignment)."""

    child = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="parent_links")
    parent = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="child_links")
    weight = models.FloatField(default=1.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="link_unique"),
            models.CheckConstraint(condition=~Q(child=F("parent")), name="link_not_self"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="link_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} -> {self.parent_id} (weight {self.weight})"


class KPI(models.Model):
    """An ongoing shared metric with a healthy range, possibly owned by several units."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="kpis")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    measure = models.CharField(max_length=50, blank=True)
    healthy_min = models.FloatField(null=True, blank=True)
    healthy_max = models.FloatField(null=True, blank=True)
    owner_units = models.ManyToManyField(Unit, blank=True, related_name="kpis")
    archived_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)  # its version (trust.versions)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="kpi_key_unique"),
            models.CheckConstraint(
                condition=Q(healthy_min__isnull=True)
                | Q(healthy_max__isnull=True)
                | Q(healthy_min__lte=F("healthy_max")),
                name="kpi_healthy_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KPIDataPoint(models.Model):
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="points")
    at = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["kpi", "at"])]

    def __str__(self) -> str:
        return f"{self.value} at {self.at:%Y-%m-%d %H:%M}"


class KeyResult(models.Model):
    """A measurable result with an accountable owner unit.

    current_value, last_checkin_at, last_confidence and checkin_count are kept by the
    check-in service so pages read one row instead of scanning the check-in history;
    progress and status are stored the same way for dashboards (docs/numbers.md).
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="key_results"
    )
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="key_results")
    key = models.SlugField(max_length=100)
    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in KRKind])
    start = models.FloatField(default=0)
    target = models.FloatField()
    measure = models.CharField(max_length=50, blank=True)
    steps = models.JSONField(default=list, blank=True)
    weight = models.FloatField(default=1.0)
    due = models.DateField(null=True, blank=True)
    commitment = models.CharField(
        max_length=12,
        choices=[(c.value, c.value) for c in Commitment],
        default=Commitment.COMMITTED.value,
    )
    owner_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_key_results"
    )
    owner_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="key_results"
    )
    co_owners = models.ManyToManyField(Unit, blank=True, related_name="co_owned_key_results")
    cadence_days = models.PositiveSmallIntegerField(default=7)
    kpi = models.ForeignKey(
        KPI, null=True, blank=True, on_delete=models.SET_NULL, related_name="key_results"
    )
    current_value = models.FloatField(null=True, blank=True)
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    last_confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    checkin_count = models.PositiveIntegerField(default=0)
    # Running sums of the check-ins (t = days since the cycle start, v = value) so the
    # least-squares forecast costs O(1) per KR whatever the length of its history.
    sum_t = models.FloatField(default=0)
    sum_v = models.FloatField(default=0)
    sum_tt = models.FloatField(default=0)
    sum_tv = models.FloatField(default=0)
    # Stored numbers (see STATUS_CHOICES above): progress and status when last computed.
    progress = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, null=True, blank=True)
    numbers_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="kr_key_unique"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="kr_weight_positive"),
            models.CheckConstraint(condition=Q(cadence_days__gte=1), name="kr_cadence_positive"),
        ]
        indexes = [models.Index(fields=["organisation", "owner_unit"])]

    def __str__(self) -> str:
        return self.title


class CheckIn(models.Model):
    """An append-only update of a KR. Corrections are new check-ins, never edits."""

    class Source(models.TextChoices):
        WEB = "web"
        API = "api"
        CLI = "cli"
        IMPORT = "import"
        KPI = "kpi"
        DEMO = "demo"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="checkins"
    )
    key_result = models.ForeignKey(KeyResult, on_delete=models.CASCADE, related_name="checkins")
    at = models.DateTimeField()
    value = models.FloatField()
    steps_done = models.JSONField(null=True, blank=True)
    confidence = models.PositiveSmallIntegerField()
    note = models.TextField(blank=True)
    blockers = models.TextField(blank=True)
    blocking_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.SET_NULL, related_name="blocking_checkins"
    )
    author = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="checkins"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=1) & Q(confidence__lte=10),
                name="checkin_confidence_1_10",
            )
        ]
        indexes = [models.Index(fields=["key_result", "at"])]

    def __str__(self) -> str:
        return f"{self.value} (confidence {self.confidence}) at {self.at:%Y-%m-%d %H:%M}"


class Initiative(models.Model):
    """A piece of work (project or task) that drives one or more KRs."""

    class State(models.TextChoices):
        PLANNED = "planned"
        IN_PROGRESS = "in_progress"
        BLOCKED = "blocked"
        DONE = "done"
        CANCELLED = "cancelled"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="initiatives"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    key_results = models.ManyToManyField(KeyResult, blank=True, related_name="initiatives")
    owner_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="initiatives")
    assignee = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="initiatives"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.PLANNED)
    due = models.DateField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due", "id"]

    def __str__(self) -> str:
        return self.title
