"""URL routes: the admin is the back office; /api/ is the REST API for products."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Before admin/: the admin's catch-all would read "dashboards" as an app label.
    path("admin/dashboards/", include("ledger.dashboards.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("ledger.api.urls")),
]
