"""Editing a workspace's credit policy over the environment defaults, with a reason."""
from __future__ import annotations

from django.http import Http404
from django.urls import reverse

from ledger.models import Workspace, WorkspacePolicy
from ledger.models.policies import POLICY_DEFAULTS
from ledger.selectors.policies import policy_defaults
from ledger.services.backoffice import staff_policy_update

from .actions.base import ConfirmedAction
from .forms import PolicyForm


def _shown(value) -> str:
    return "default" if value is None else f"{value:,}"


class WorkspacePolicyEdit(ConfirmedAction):
    permission = "ledger.change_workspacepolicy"
    form_class = PolicyForm
    title = "Credit policy"
    submit_label = "Save policy"

    def load(self, **kwargs) -> None:
        self.workspace = Workspace.objects.filter(pk=kwargs["workspace_id"]).first()
        if self.workspace is None:
            raise Http404("No such workspace")
        self.current = WorkspacePolicy.objects.filter(workspace=self.workspace).first()

    def form_kwargs(self) -> dict:
        initial = {name: getattr(self.current, name, None) for name in POLICY_DEFAULTS}
        return {"defaults": policy_defaults(), "initial": initial}

    def subject(self) -> str:
        return f"Workspace {self.workspace.slug}: empty fields use the environment default"

    def back_url(self) -> str:
        return reverse("admin:ledger_workspace_change", args=[self.workspace.pk])

    def log_object(self):
        return self.workspace

    def context(self, **extra) -> dict:
        history = self.workspace.policy_changes.select_related("changed_by")[:20]
        return super().context(workspace=self.workspace, policy_history=history, **extra)

    def preview(self, form) -> dict:
        changes = form.changes(self.current)
        rows = [(name, f"{_shown(getattr(self.current, name, None))} → {_shown(value)}") for name, value in changes.items()]
        rows.append(("Reason", form.cleaned_data["reason"]))
        notice = "" if changes else "Nothing changes: every field already has this value."
        return {"rows": rows, "notice": notice}

    def perform(self, form):
        return staff_policy_update(
            workspace_id=self.workspace.pk, changes=form.changes(self.current),
            reason=form.cleaned_data["reason"], actor=self.actor,
        )

    def outcome_message(self, outcome) -> tuple[str, bool]:
        fields = ", ".join(change.field for change in outcome) or "nothing"
        return f"Policy of {self.workspace.slug} changed: {fields}.", not outcome
