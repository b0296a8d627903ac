"""Admin for the key-credits phase: one page showing it, and a confirmed, audited change
(permission ``migrations_ops.change_keycreditssetting``, held by Operations)."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from ledger.admin.actions.base import ConfirmedAction

from .models import KeyCreditsPhase, KeyCreditsSetting
from .services.key_phase import key_credits_phase, key_credits_phase_set

PHASE_PERM = "migrations_ops.change_keycreditssetting"


class PhaseForm(forms.Form):
    phase = forms.ChoiceField(choices=KeyCreditsPhase.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the audit log.")


class KeyCreditsPhaseEdit(ConfirmedAction):
    """Form -> confirmation -> key_credits_phase_set."""

    permission = PHASE_PERM
    form_class = PhaseForm
    title = "Key credits phase"
    submit_label = "Change the phase"

    def load(self, **kwargs) -> None:
        self.current = key_credits_phase()

    def form_kwargs(self) -> dict:
        return {"initial": {"phase": self.current}}

    def subject(self) -> str:
        return (f"Every process (web, workers, beat, reports) reads this phase. Now: {self.current}. "
                "Set dual once the dual-write code runs everywhere, before migrating.")

    def back_url(self) -> str:
        return reverse("admin:index")

    def log_object(self):
        return KeyCreditsSetting.objects.get_or_create(pk=1)[0]

    def preview(self, form) -> dict:
        wanted = form.cleaned_data["phase"]
        notice = "" if wanted != self.current else "Nothing changes: this is the phase already."
        rows = [("Phase", f"{self.current} → {wanted}"), ("Means", KeyCreditsPhase(wanted).label),
                ("Reason", form.cleaned_data["reason"])]
        return {"rows": rows, "notice": notice}

    def perform(self, form):
        return key_credits_phase_set(phase=form.cleaned_data["phase"], actor=self.actor,
                                     reason=form.cleaned_data["reason"])

    def outcome_message(self, outcome) -> tuple[str, bool]:
        return f"Key credits phase: {outcome.before} → {outcome.after}.", not outcome.changed


@admin.register(KeyCreditsSetting)
class KeyCreditsSettingAdmin(admin.ModelAdmin):
    """The one row is shown and changed through KeyCreditsPhaseEdit only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(KeyCreditsPhaseEdit.as_view(model_admin=self))
        return [path("", view, name="migrations_ops_keycreditssetting_changelist"),
                path("<path:object_id>/change/", lambda request, object_id: HttpResponseRedirect(
                    reverse("admin:migrations_ops_keycreditssetting_changelist")))]
