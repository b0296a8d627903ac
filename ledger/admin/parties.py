"""Workspaces, product users, API keys and identities (searchable; used by autocomplete)."""
from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from ledger.models import ApiKey, Customer, Identity, PolicyChange, Workspace

from .policies import WorkspacePolicyEdit


class PolicyChangeInline(admin.TabularInline):
    model = PolicyChange
    fields = ["changed_at", "field", "old_value", "new_value", "actor", "reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-changed_at", "-id"]
    verbose_name_plural = "Policy history"

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone", "policy_link", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [PolicyChangeInline]

    @admin.display(description="Credit policy")
    def policy_link(self, obj):
        return format_html('<a href="{}">Edit policy</a>', reverse("admin:ledger_workspace_policy", args=[obj.pk]))

    def get_urls(self):
        view = WorkspacePolicyEdit.as_view(model_admin=self)
        return [
            path("<int:workspace_id>/policy/", self.admin_site.admin_view(view), name="ledger_workspace_policy"),
            *super().get_urls(),
        ]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "external_id", "workspace", "created_at"]
    search_fields = ["email", "external_id"]
    list_select_related = ["workspace"]
    list_filter = ["workspace"]
    autocomplete_fields = ["workspace"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "workspace", "identity", "created_at", "deleted_at"]
    search_fields = ["external_id", "name"]
    list_select_related = ["workspace", "identity"]
    autocomplete_fields = ["workspace", "identity"]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["external_id", "workspace", "created_at"]
    search_fields = ["external_id"]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace"]
