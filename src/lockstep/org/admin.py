"""Back-office views; everyday work happens in Lockstep's own pages."""

from django.contrib import admin

from lockstep.org.models import Membership, Organisation, Person, Unit


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "on_track_margin", "at_risk_margin"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "kind", "parent", "organisation", "archived_at"]
    list_filter = ["organisation", "kind"]
    search_fields = ["name", "key"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "organisation", "is_org_admin", "user"]
    list_filter = ["organisation"]
    search_fields = ["name", "email"]
    inlines = [MembershipInline]
