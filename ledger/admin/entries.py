"""Ledger entries and allocations: read-only for everyone, built for millions of rows."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from ledger.models import Allocation, LedgerEntry

from .base import BigTableAdmin, ReadOnlyAdmin, account_link, credits_html
from .exports import entries_csv


class AccountFilter(admin.SimpleListFilter):
    """``?account=<id>``: one account's history (the account page links here). Offers no
    choices, which would mean reading every account."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"Account #{value}")] if value and value.isdigit() else []

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(account_id=int(value)) if value.isdigit() else queryset.none()


ENTRY_RELATIONS = ["account__workspace", "account__customer", "account__api_key", "account__identity"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ["id", "created_display", "account_display", "type_display", "amount_display",
                    "balance_after", "description", "actor"]
    list_filter = [AccountFilter, "entry_type", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ENTRY_RELATIONS
    ordering = ["-id"]
    sortable_by = []
    raw_id_fields = ["account", "lot", "refund_of", "actor_user"]
    change_list_template = "admin/ledger/ledgerentry/change_list.html"

    def get_list_display(self, request):
        """One account's history needs no account column."""
        if AccountFilter.parameter_name in request.GET:
            return [name for name in self.list_display if name != "account_display"]
        return self.list_display

    @admin.display(description="When")
    def created_display(self, obj):
        return format_html('<span class="nowrap" title="{}">{}</span>', obj.created_at.isoformat(),
                           date_format(timezone.localtime(obj.created_at), "j M Y, H:i"))

    @admin.display(description="Account")
    def account_display(self, obj):
        return account_link(obj.account)

    @admin.display(description="Type")
    def type_display(self, obj):
        return format_html('<span class="entry-type entry-{}">{}</span>', obj.entry_type, obj.get_entry_type_display())

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return credits_html(obj.amount)

    def get_urls(self):
        return [
            path("export.csv", self.admin_site.admin_view(self.export_view), name="ledger_ledgerentry_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """Stream the entries the changelist shows with the same filters, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return entries_csv(queryset, filename=f"ledger-entries-{stamp}.csv")


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ["id", "entry", "lot", "amount", "refunded"]
    list_select_related = ["entry", "lot"]
    raw_id_fields = ["entry", "lot"]
    ordering = ["-id"]
    sortable_by = []
