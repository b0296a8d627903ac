"""The audit page: every staff action and job event with who, when and why."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html

from ledger.models import AuditEvent, PolicyChange, WorkspacePolicy

from .base import BigTableAdmin, ReadOnlyAdmin


class StaffUserFilter(admin.SimpleListFilter):
    """Filter by the staff user who acted (staff accounts only: a short list)."""

    title = "staff user"
    parameter_name = "staff"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_staff=True).order_by("username")
        return [(str(user.pk), user.get_username()) for user in users]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(actor_user_id=int(value)) if value.isdigit() else queryset.none()


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ["created_at", "actor", "action", "object_display", "reason", "details"]
    list_filter = [StaffUserFilter, ("created_at", admin.DateFieldListFilter), "action"]
    search_fields = ["=object_id", "reason"]
    ordering = ["-created_at", "-id"]
    sortable_by = []

    @admin.display(description="Object")
    def object_display(self, obj):
        if obj.object_type == "account" and obj.object_id.isdigit():
            url = reverse("admin:ledger_creditaccount_change", args=[obj.object_id])
            return format_html('<a href="{}">account #{}</a>', url, obj.object_id)
        return f"{obj.object_type} #{obj.object_id}"


@admin.register(PolicyChange)
class PolicyChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "workspace", "field", "old_value", "new_value", "actor", "reason"]
    list_filter = ["workspace", "field"]
    list_select_related = ["workspace"]


@admin.register(WorkspacePolicy)
class WorkspacePolicyAdmin(ReadOnlyAdmin):
    """Shown read-only here; edited from the workspace ("Edit policy"), with a reason."""

    list_display = ["workspace", "edit_link", "initial_credits", "expiry_months", "price_standard_per_second",
                    "price_pro_per_second", "updated_at"]
    list_select_related = ["workspace"]

    @admin.display(description="Edit")
    def edit_link(self, obj):
        return format_html('<a href="{}">Edit policy</a>', reverse("admin:ledger_workspace_policy", args=[obj.workspace_id]))
