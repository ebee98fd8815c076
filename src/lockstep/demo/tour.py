"""The main pages of the demo organisation, with the ids of its busiest objects.

The page benchmark (bench/pages.py) times them and the accessibility check
(tests/web/test_accessibility.py) visits them, so both cover the same pages.
"""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse

from lockstep.alignment.models import Dependency
from lockstep.demo.loader import DEMO_SLUG
from lockstep.goals.models import Objective
from lockstep.org.models import Organisation, Unit


def main_pages() -> list[tuple[str, str]]:
    """(label, path) of every main page, with ids of the demo's busiest objects."""
    org = Organisation.objects.get(slug=DEMO_SLUG)
    company = (
        Objective.objects.filter(organisation=org, level="company")
        .annotate(n=Count("child_links"))
        .order_by("-n", "pk")
        .first()
    )
    shared = (
        Objective.objects.filter(organisation=org, level="shared")
        .annotate(n=Count("key_results"))
        .order_by("-n", "pk")
        .first()
    )
    dep = Dependency.objects.filter(organisation=org).order_by("pk").first()
    unit = Unit.objects.get(organisation=org, key="product")
    assert company and shared and dep, "the demo lacks a company/shared objective or dependency"
    return [
        ("My week", reverse("home")),
        ("Weekly check-in", reverse("checkin-week")),
        ("Alignment map", reverse("alignment-map")),
        ("Objective list", reverse("objective-list")),
        ("Objective (company)", reverse("objective-detail", args=[company.pk])),
        ("Objective (shared)", reverse("objective-detail", args=[shared.pk])),
        ("Dashboard (company)", reverse("dashboard")),
        ("Dashboard (department)", reverse("dashboard") + f"?unit={unit.pk}"),
        ("Wall screen", reverse("dashboard-wall")),
        ("Dependency board", reverse("dependencies")),
        ("Dependency map", reverse("dependency-map")),
        ("Dependency", reverse("dependency-detail", args=[dep.pk])),
        ("Findings", reverse("findings")),
        ("Reviews", reverse("reviews")),
        ("Asks and offers", reverse("asks-offers")),
        ("Unit tree", reverse("unit-tree")),
        ("Unit page", reverse("unit-detail", args=[unit.pk])),
        ("People (admin)", reverse("manage-people")),
        ("Units (admin)", reverse("manage-units")),
        ("Organisation (admin)", reverse("manage-org")),
    ]
