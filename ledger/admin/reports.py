"""Stored report results, read-only: each links to its page on the dashboards."""
from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from ledger.models import ReportResult

from .base import BigTableAdmin, ReadOnlyAdmin


@admin.register(ReportResult)
class ReportResultAdmin(ReadOnlyAdmin, BigTableAdmin):
    """Who ran which report when, and what it found; the rows are on the dashboard page."""

    list_display = ["generated_at", "name", "findings", "duration_ms", "actor", "dashboard_link"]
    list_filter = ["name", ("generated_at", admin.DateFieldListFilter)]
    ordering = ["-generated_at", "-id"]
    sortable_by = []
    # The whole result can hold thousands of rows: left out of the page, shown on the dashboard.
    fields = ["name", "findings", "generated_at", "duration_ms", "actor", "created_by", "params", "dashboard_link"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("result")

    @admin.display(description="Result")
    def dashboard_link(self, obj):
        return format_html('<a href="{}">Open on the dashboards</a>', reverse("dashboards:result", args=[obj.pk]))
