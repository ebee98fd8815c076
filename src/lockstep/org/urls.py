"""The org domain's pages: units, and the admin's people, units and organisation settings."""

from django.urls import path

from lockstep.org import views

urlpatterns = [
    path("units/", views.unit_tree, name="unit-tree"),
    path("units/<int:unit_id>/", views.unit_detail, name="unit-detail"),
    path("manage/", views.manage_home, name="manage"),
    path("manage/people/", views.manage_people, name="manage-people"),
    path("manage/people/add/", views.manage_person_add, name="manage-person-add"),
    path("manage/people/<int:person_id>/", views.manage_person_edit, name="manage-person-edit"),
    path(
        "manage/people/<int:person_id>/archive/",
        views.manage_person_archive,
        name="manage-person-archive",
    ),
    path("manage/units/", views.manage_units, name="manage-units"),
    path("manage/units/add/", views.manage_unit_add, name="manage-unit-add"),
    path("manage/units/<int:unit_id>/", views.manage_unit_edit, name="manage-unit-edit"),
    path(
        "manage/units/<int:unit_id>/archive/",
        views.manage_unit_archive,
        name="manage-unit-archive",
    ),
    path("manage/organisation/", views.manage_org, name="manage-org"),
]
