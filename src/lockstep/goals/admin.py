"""Back-office views; check-ins are shown read-only because they are append-only."""

from django.contrib import admin
from django.http import HttpRequest

from lockstep.goals.models import (
    KPI,
    KR_COUNT_FIELDS,
    CheckIn,
    Cycle,
    Initiative,
    KeyResult,
    Objective,
)

# Stored numbers are kept by the services and the full refresh (docs/numbers.md).
NUMBERS = ["progress", "status", "numbers_at"]


@admin.register(Cycle)
class CycleAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "kind", "start", "end", "parent", "organisation"]
    list_filter = ["organisation", "kind"]


@admin.register(Objective)
class ObjectiveAdmin(admin.ModelAdmin):
    list_display = ["title", "key", "level", "state", "cycle", "owner_unit", "organisation"]
    list_filter = ["organisation", "level", "state"]
    search_fields = ["title", "key"]
    readonly_fields = [*NUMBERS, *KR_COUNT_FIELDS]


@admin.register(KeyResult)
class KeyResultAdmin(admin.ModelAdmin):
    list_display = ["title", "key", "kind", "start", "target", "current_value", "owner_unit"]
    list_filter = ["organisation", "kind", "commitment"]
    search_fields = ["title", "key"]
    readonly_fields = NUMBERS


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["key_result", "at", "value", "confidence", "author", "source"]
    list_filter = ["organisation", "source"]

    def has_change_permission(self, request: HttpRequest, obj: CheckIn | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CheckIn | None = None) -> bool:
        return False


@admin.register(Initiative)
class InitiativeAdmin(admin.ModelAdmin):
    list_display = ["title", "owner_unit", "assignee", "state", "due"]
    list_filter = ["organisation", "state"]


@admin.register(KPI)
class KPIAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "measure", "healthy_min", "healthy_max", "organisation"]
