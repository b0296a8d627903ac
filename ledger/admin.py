"""Minimal admin registrations; the full back office is built on top of these."""
from django.contrib import admin

from .models import CreditAccount, Customer, Grant, LedgerEntry, Workspace


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone", "created_at"]
    search_fields = ["slug", "name"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "external_id", "workspace", "created_at"]
    search_fields = ["email", "external_id"]
    list_select_related = ["workspace"]


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ["id", "owner_kind", "workspace", "balance", "total_earned", "total_spent", "total_expired"]
    list_select_related = ["workspace"]
    readonly_fields = [f.name for f in CreditAccount._meta.fields]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody, superusers included, adds, changes or deletes these rows in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "kind", "amount", "remaining", "priority", "expires_at"]
    raw_id_fields = ["account"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "seq", "entry_type", "amount", "balance_after", "actor", "created_at"]
    raw_id_fields = ["account"]
