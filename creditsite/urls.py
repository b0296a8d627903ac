"""URL routes: the admin is the back office; /api/ is the REST API for products."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("ledger.api.urls")),
]
