"""The staff actions on an account: grant, adjust, void a lot, refund a debit."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.utils.formats import date_format

from ledger import clock
from ledger.models import Grant, GrantKind, LedgerEntry
from ledger.selectors.backoffice import entry_refundable, entry_refundable_amount
from ledger.services.backoffice import staff_adjust, staff_grant_submit, staff_refund, staff_void
from ledger.services.grant_requests import grant_limit_applies
from ledger.services.grants import EXPIRY_FROM_POLICY, grant_expiry_resolve

from ..forms import AdjustForm, GrantForm, RefundForm, VoidForm
from .base import AccountAction

#: One-click amounts offered on the grant form.
QUICK_AMOUNTS = [50, 100, 250, 500, 1000]


def _credits(value: int, *, signed: bool = False) -> str:
    return f"{value:+,}" if signed else f"{value:,}"


def _when(moment) -> str:
    return "never" if moment is None else date_format(moment, "j M Y, H:i") + " UTC"


class GrantCredits(AccountAction):
    permission = "ledger.grant_credits"
    form_class = GrantForm
    title = "Grant credits"
    submit_label = "Grant credits"

    def context(self, **extra) -> dict:
        expiry = grant_expiry_resolve(account=self.account, effective_from=clock.now(), expires_at=EXPIRY_FROM_POLICY)
        limit = settings.CREDITS_SUPPORT_GRANT_LIMIT
        return super().context(
            policy_expiry=_when(expiry), support_limit=limit,
            limit_applies=grant_limit_applies(actor=self.actor, amount=limit + 1),
            layout=[["amount", "kind"], ["reason"], ["expires_on", "never_expires", "priority"]],
            quick_amounts=QUICK_AMOUNTS, **extra,
        )

    def preview(self, form) -> dict:
        data = form.cleaned_data
        expires_at = form.expires_at()
        expiry = grant_expiry_resolve(account=self.account, effective_from=clock.now(), expires_at=expires_at)
        needs_approval = grant_limit_applies(actor=self.actor, amount=data["amount"])
        rows = [
            ("Amount", _credits(data["amount"], signed=True) + " credits"),
            ("Kind", GrantKind(data["kind"]).label),
            ("Expires", _when(expiry) + (" (workspace policy)" if expires_at is EXPIRY_FROM_POLICY else "")),
            ("Priority", data["priority"]),
            ("Reason", data["reason"]),
        ]
        notice = ""
        if needs_approval:
            notice = (
                f"{_credits(data['amount'])} credits is above your limit of "
                f"{_credits(settings.CREDITS_SUPPORT_GRANT_LIMIT)} per grant. Nothing is granted now: this "
                "becomes a request that an Operations colleague approves or rejects."
            )
        return {
            "rows": rows,
            "balance_after": None if needs_approval else self.account.balance + data["amount"],
            "notice": notice,
            "submit_label": "Send for approval" if needs_approval else self.submit_label,
        }

    def perform(self, form):
        data = form.cleaned_data
        return staff_grant_submit(
            account_id=self.account.pk, amount=data["amount"], kind=data["kind"], reason=data["reason"],
            actor=self.actor, idempotency_key=data["idempotency_key"], priority=data["priority"],
            expires_at=form.expires_at(),
        )

    def outcome_message(self, outcome) -> tuple[str, bool]:
        if outcome.request is not None:
            request = outcome.request.request
            return (
                f"Grant request #{request.pk} for {_credits(request.amount)} credits is waiting for an "
                f"Operations approval (above the {_credits(settings.CREDITS_SUPPORT_GRANT_LIMIT)} limit).",
                outcome.request.replayed,
            )
        result = outcome.grant
        return (
            f"Granted {_credits(result.grant.amount)} credits (lot #{result.grant.pk}, entry #{result.entry.pk}): "
            f"{result.grant.reason}",
            result.replayed,
        )


class AdjustBalance(AccountAction):
    permission = "ledger.adjust_credits"
    form_class = AdjustForm
    title = "Adjust balance"
    submit_label = "Make adjustment"

    def preview(self, form) -> dict:
        data = form.cleaned_data
        rows = [
            ("Amount", _credits(data["amount"], signed=True) + " credits"),
            ("Effect", "adds a never-expiring lot" if data["amount"] > 0 else "draws the lots like a debit"),
            ("Reason", data["reason"]),
        ]
        return {"rows": rows, "balance_after": self.account.balance + data["amount"]}

    def perform(self, form):
        data = form.cleaned_data
        return staff_adjust(
            account_id=self.account.pk, amount=data["amount"], reason=data["reason"], actor=self.actor,
            idempotency_key=data["idempotency_key"],
        )

    def outcome_message(self, outcome) -> tuple[str, bool]:
        entry = outcome.entry
        return f"Adjusted the balance by {_credits(entry.amount, signed=True)} credits (entry #{entry.pk}).", outcome.replayed


class VoidLot(AccountAction):
    permission = "ledger.void_credits"
    form_class = VoidForm
    title = "Void a grant"
    submit_label = "Void grant"

    def load(self, **kwargs) -> None:
        super().load(**kwargs)
        self.lot = Grant.objects.filter(pk=kwargs["grant_id"], account_id=self.account.pk).first()
        if self.lot is None:
            raise Http404("No such grant on this account")

    def subject(self) -> str:
        return f"Lot #{self.lot.pk}: {self.lot.get_kind_display()}, {_credits(self.lot.remaining)} of {_credits(self.lot.amount)} left"

    def preview(self, form) -> dict:
        rows = [
            ("Lot", f"#{self.lot.pk} {self.lot.get_kind_display()}, granted {_when(self.lot.effective_from)}"),
            ("Credits removed", _credits(-self.lot.remaining, signed=True) + " (what is left of the lot)"),
            ("Expires", _when(self.lot.expires_at)),
            ("Reason", form.cleaned_data["reason"]),
        ]
        return {"rows": rows, "balance_after": self.account.balance - self.lot.remaining}

    def perform(self, form):
        data = form.cleaned_data
        return staff_void(
            grant_id=self.lot.pk, account_id=self.account.pk, reason=data["reason"], actor=self.actor,
            idempotency_key=data["idempotency_key"],
        )

    def outcome_message(self, outcome) -> tuple[str, bool]:
        voided = -outcome.entry.amount if outcome.entry else 0
        return f"Voided lot #{outcome.grant.pk}: {_credits(voided)} credits removed.", outcome.replayed


class RefundDebit(AccountAction):
    permission = "ledger.refund_credits"
    form_class = RefundForm
    title = "Refund a debit"
    submit_label = "Refund"

    def load(self, **kwargs) -> None:
        super().load(**kwargs)
        self.debit = LedgerEntry.objects.filter(pk=kwargs["entry_id"], account_id=self.account.pk).first()
        if self.debit is None or not entry_refundable(self.debit):
            raise Http404("No such debit on this account")
        self.refundable = entry_refundable_amount(entry=self.debit)

    def subject(self) -> str:
        return (f"Entry #{self.debit.pk}: {self.debit.description or self.debit.get_entry_type_display()}, "
                f"{_credits(self.debit.amount, signed=True)}; {_credits(self.refundable)} refundable")

    def preview(self, form) -> dict:
        amount = form.cleaned_data["amount"] or self.refundable
        rows = [
            ("Debit", f"#{self.debit.pk} {self.debit.description or ''} ({_credits(self.debit.amount, signed=True)}, "
                      f"{_when(self.debit.created_at)})"),
            ("Refund", _credits(amount, signed=True) + f" credits of {_credits(self.refundable)} refundable"),
            ("Goes back to", "the lots it was drawn from (a new lot if they are gone)"),
            ("Reason", form.cleaned_data["reason"]),
        ]
        return {"rows": rows, "balance_after": self.account.balance + amount}

    def perform(self, form):
        data = form.cleaned_data
        return staff_refund(
            entry_id=self.debit.pk, account_id=self.account.pk, amount=data["amount"], reason=data["reason"],
            actor=self.actor, idempotency_key=data["idempotency_key"],
        )

    def outcome_message(self, outcome) -> tuple[str, bool]:
        entry = outcome.entry
        return f"Refunded {_credits(entry.amount)} credits of entry #{self.debit.pk} (entry #{entry.pk}).", outcome.replayed
