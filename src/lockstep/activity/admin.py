"""The activity log, read-only: it is append-only through the application."""

from django.contrib import admin
from django.http import HttpRequest

from lockstep.activity.models import ActivityEvent


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = ["at", "verb", "object_type", "object_label", "actor", "organisation"]
    list_filter = ["organisation", "verb"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ActivityEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ActivityEvent | None = None) -> bool:
        return False
