"""Grants (lots), read-only, and grant requests with their approve / reject actions."""
from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from ledger.actors import Actor
from ledger.exceptions import LedgerError
from ledger.models import Grant, GrantRequest
from ledger.services.grant_requests import grant_request_approve, grant_request_reject

from .base import BigTableAdmin, ReadOnlyAdmin, account_link, credits_html
from .forms import DecisionForm


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ["id", "account_display", "kind", "amount", "remaining", "priority", "expires_at", "actor",
                    "created_at"]
    list_filter = ["kind"]
    list_select_related = ["account__workspace", "account__customer", "account__api_key", "account__identity"]
    raw_id_fields = ["account", "created_by"]
    ordering = ["-id"]
    sortable_by = []

    @admin.display(description="Account")
    def account_display(self, obj):
        return account_link(obj.account)


@admin.register(GrantRequest)
class GrantRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "requested_at", "account_display", "amount_display", "kind", "reason", "requested_by",
                    "status_display", "decided_by", "grant"]
    list_filter = ["status"]
    list_select_related = ["account__workspace", "account__customer", "account__api_key", "account__identity",
                           "requested_by", "decided_by"]
    raw_id_fields = ["account", "grant", "requested_by", "decided_by"]
    actions = ["approve_selected", "reject_selected"]

    @admin.display(description="Account")
    def account_display(self, obj):
        return account_link(obj.account)

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return credits_html(obj.amount)

    @admin.display(description="Status")
    def status_display(self, obj):
        return format_html('<span class="status status-{}">{}</span>', obj.status, obj.get_status_display())

    def has_approve_permission(self, request):
        return request.user.has_perm("ledger.approve_grant_requests")

    @admin.action(description="Approve selected requests (makes the grants)", permissions=["approve"])
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected requests", permissions=["approve"])
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, approve=False)

    def _decide(self, request, queryset, *, approve: bool):
        """Show a confirmation page with a reason; on ``apply``, decide each request."""
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            reason = form.cleaned_data["reason"].strip()
            if approve or reason:
                self._apply(request, list(queryset), approve=approve, reason=reason)
                return None
            form.add_error("reason", "Say why the request is rejected.")
        return TemplateResponse(request, "admin/ledger/grantrequest/decide.html", {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Approve grant requests" if approve else "Reject grant requests",
            "requests": queryset.select_related(*self.list_select_related),
            "form": form,
            "approve": approve,
            "action": "approve_selected" if approve else "reject_selected",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    def _apply(self, request, requests, *, approve: bool, reason: str) -> None:
        actor = Actor.staff(request.user)
        for grant_request in requests:
            try:
                if approve:
                    result = grant_request_approve(request_id=grant_request.pk, actor=actor, reason=reason)
                    text = f"Approved request #{grant_request.pk}: granted {result.grant.amount:,} (lot #{result.grant.pk})."
                else:
                    grant_request_reject(request_id=grant_request.pk, actor=actor, reason=reason)
                    text = f"Rejected request #{grant_request.pk}: {reason}"
            except LedgerError as error:
                self.message_user(request, f"Request #{grant_request.pk}: {error.message}", messages.ERROR)
                continue
            self.log_change(request, grant_request, text)
            self.message_user(request, text, messages.SUCCESS)
