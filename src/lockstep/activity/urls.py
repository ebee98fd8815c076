"""The audit trail pages."""

from django.urls import path

from lockstep.activity import views

urlpatterns = [
    path("activity/", views.audit_log, name="audit-log"),
    path("activity/export/", views.audit_export, name="audit-export"),
]
