"""Routes of the dashboards under /admin/dashboards/, each behind the admin's staff login."""
from django.contrib import admin
from django.urls import path

from . import views

app_name = "dashboards"


def _staff(view):
    return admin.site.admin_view(view)


urlpatterns = [
    path("overview/", _staff(views.overview), name="overview"),
    path("overview/refresh/", _staff(views.summary_refresh), name="summary_refresh"),
    path("health/", _staff(views.health), name="health"),
    path("reports/", _staff(views.reports_index), name="reports"),
    path("reports/<str:name>/", _staff(views.report), name="report"),
    path("reports/<str:name>/run/", _staff(views.report_run), name="report_run"),
    path("results/<int:pk>/", _staff(views.result), name="result"),
    path("repair/<int:account_id>/", _staff(views.repair), name="repair"),
]
