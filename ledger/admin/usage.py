"""Usage tasks, read-only, with two confirmed Operations actions: charge now, release hold.

Nobody edits a task's ledger-derived values here (status, price, deduction, shortfall,
hold). Both actions need ``ledger.charge_usage`` (the Operations group has it), show a
confirmation page that says what will happen to each selected task and asks for a reason,
then call ``ledger.services.backoffice`` (which writes the audit event with the change).
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from ledger.actors import Actor
from ledger.exceptions import LedgerError
from ledger.models import UsageStatus, UsageTask
from ledger.services.backoffice import staff_hold_release, staff_task_charge

from .base import BigTableAdmin, ReadOnlyAdmin, account_link, credits_html
from .forms import DecisionForm

#: At most this many tasks per action: each is its own transaction, and the confirmation
#: page lists them all.
MAX_TASKS_PER_ACTION = 200


def _charge_plan(task: UsageTask) -> str:
    if task.status == UsageStatus.SUCCEEDED and not task.credits_deducted:
        price = task.credits_calculated
        return f"charge {price:,} credits" if price is not None else "price its duration and charge it"
    if task.credits_deducted:
        return "nothing: already charged"
    return f"nothing: the task is {task.get_status_display().lower()}, not waiting for its charge"


def _release_plan(task: UsageTask) -> str:
    if task.hold_active:
        return f"give back the {task.hold_amount:,} credits held"
    return "nothing: no active hold"


#: action name -> (title, button, what it does to one task, service, past tense)
ACTIONS = {
    "charge_selected": ("Charge tasks now", "Charge now", _charge_plan, staff_task_charge, "Charged"),
    "release_hold_selected": ("Release holds now", "Release holds", _release_plan, staff_hold_release, "Released the hold of"),
}


@admin.register(UsageTask)
class UsageTaskAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ["id", "account_display", "external_id", "tier", "status", "output_duration_seconds",
                    "credits_calculated", "credits_deducted", "shortfall_display", "hold_display", "created_at",
                    "completed_at"]
    list_filter = ["status", "tier", "credits_deducted", "workspace"]
    list_select_related = ["account__workspace", "account__customer", "account__api_key", "account__identity"]
    search_fields = ["=external_id", "account__customer__email"]
    search_help_text = "Task external id (exact) or the product user's email."
    raw_id_fields = ["workspace", "account", "customer", "charge_entry", "hold_entry"]
    ordering = ["-id"]
    sortable_by = []
    actions = ["charge_selected", "release_hold_selected"]

    @admin.display(description="Account")
    def account_display(self, obj):
        return account_link(obj.account)

    @admin.display(description="Shortfall")
    def shortfall_display(self, obj):
        return credits_html(-obj.shortfall) if obj.shortfall else "–"

    @admin.display(description="Hold")
    def hold_display(self, obj):
        if not obj.hold_amount:
            return "–"
        state = "held" if obj.hold_active else "released"
        return format_html('{} <span class="pill">{}</span>', f"{obj.hold_amount:,}", state)

    def has_charge_permission(self, request):
        return request.user.has_perm("ledger.charge_usage")

    @admin.action(description="Charge selected tasks now (succeeded, never charged)", permissions=["charge"])
    def charge_selected(self, request, queryset):
        return self._confirm(request, queryset, "charge_selected")

    @admin.action(description="Release the holds of selected tasks now", permissions=["charge"])
    def release_hold_selected(self, request, queryset):
        return self._confirm(request, queryset, "release_hold_selected")

    def _confirm(self, request, queryset, action: str):
        """Show what happens to each task and ask why; on ``apply``, do it task by task."""
        title, button, plan, _, _ = ACTIONS[action]
        tasks = list(queryset.select_related(*self.list_select_related).order_by("id")[:MAX_TASKS_PER_ACTION + 1])
        if len(tasks) > MAX_TASKS_PER_ACTION:
            self.message_user(request, f"Select at most {MAX_TASKS_PER_ACTION} tasks at a time.", messages.WARNING)
            return None
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            if form.cleaned_data["reason"].strip():
                self._apply(request, tasks, action, form.cleaned_data["reason"].strip())
                return None
            form.add_error("reason", "Say why.")
        return TemplateResponse(request, "admin/ledger/usagetask/confirm.html", {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "button": button,
            "rows": [(task, plan(task)) for task in tasks],
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    def _apply(self, request, tasks, action: str, reason: str) -> None:
        _, _, _, service, done = ACTIONS[action]
        actor = Actor.staff(request.user)
        changed = unchanged = 0
        for task in tasks:
            try:
                result = service(task_id=task.pk, reason=reason, actor=actor)
            except LedgerError as error:
                self.message_user(request, f"Task #{task.pk}: {error.message}", messages.ERROR)
                continue
            if result.replayed:
                unchanged += 1
                continue
            changed += 1
            self.log_change(request, result.task, f"{done} task #{task.pk}: {reason}")
        level = messages.SUCCESS if changed else messages.INFO
        self.message_user(request, f"{done} {changed} task(s); {unchanged} had nothing to do.", level)
