from django.contrib import admin
from django.urls import include, path

from lockstep.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("lockstep.trust.urls")),
    path("", include("lockstep.activity.urls")),
    path("", include("lockstep.web.urls")),
]
