"""Forms of the back-office actions. They parse input; the services decide the rules.

Every action form carries a one-time ``idempotency_key`` made when the form is first shown,
so submitting the same form twice (double click, browser resubmit) writes once.
"""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django import forms

from ledger import clock
from ledger.amounts import amount_parse
from ledger.exceptions import InvalidAmount
from ledger.models import GrantKind
from ledger.models.policies import POLICY_DEFAULTS
from ledger.services.grants import EXPIRY_FROM_POLICY

#: Kinds a person may pick when granting by hand (the rest are made by jobs).
STAFF_GRANT_KINDS = [GrantKind.MANUAL, GrantKind.PURCHASE, GrantKind.REFUND, GrantKind.MIGRATION]


def idempotency_key_new() -> str:
    return f"admin:{uuid.uuid4().hex}"


class ActionForm(forms.Form):
    """Base of the action forms: a reason and the form's one-time idempotency key."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why? e.g. ticket #4521, goodwill after outage"}),
        help_text="Required. Kept on the ledger entry and in the audit log.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", idempotency_key_new())
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why; the reason is kept with the entry.")
        return reason


class AmountField(forms.CharField):
    """A whole number of credits, parsed by ledger.amounts.amount_parse."""

    def __init__(self, *, allow_negative: bool = False, **kwargs):
        self.allow_negative = allow_negative
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return amount_parse(value.replace(",", "").replace("_", ""), allow_negative=self.allow_negative)
        except InvalidAmount as error:
            raise forms.ValidationError(error.rule.capitalize() + ".") from None


class GrantForm(ActionForm):
    amount = AmountField(help_text="Whole credits.")
    kind = forms.ChoiceField(choices=[(k.value, k.label) for k in STAFF_GRANT_KINDS], initial=GrantKind.MANUAL)
    expires_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}),
        label="Last day usable", help_text="Leave empty for the workspace policy.",
    )
    never_expires = forms.BooleanField(required=False, label="Never expires")
    priority = forms.IntegerField(
        min_value=0, max_value=100, initial=50, help_text="0-100; lower numbers are spent first."
    )
    field_order = ["amount", "kind", "reason", "expires_on", "never_expires", "priority"]

    def clean(self):
        data = super().clean()
        expires_on = data.get("expires_on")
        if data.get("never_expires") and expires_on:
            self.add_error("expires_on", "Pick a last day or 'never expires', not both.")
        elif expires_on and expires_on < clock.now().date():
            self.add_error("expires_on", "Must be today or later.")
        return data

    def expires_at(self) -> object:
        """The service's ``expires_at``: None (never), the end of the chosen day (UTC), or
        the policy default."""
        if self.cleaned_data.get("never_expires"):
            return None
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return EXPIRY_FROM_POLICY
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=dt_timezone.utc)


class AdjustForm(ActionForm):
    amount = AmountField(allow_negative=True, help_text="Signed whole credits: 50 adds, -50 removes.")
    field_order = ["amount", "reason"]


class RefundForm(ActionForm):
    amount = AmountField(required=False, help_text="Empty: everything still refundable.")
    field_order = ["amount", "reason"]


class VoidForm(ActionForm):
    pass


class DecisionForm(forms.Form):
    """Approve or reject grant requests: the reason is required to reject."""

    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PolicyForm(ActionForm):
    """One optional field per policy; empty means the environment default."""

    def __init__(self, *args, defaults, **kwargs):
        super().__init__(*args, **kwargs)
        for name in POLICY_DEFAULTS:
            self.fields[name] = forms.IntegerField(
                required=False, min_value=0, label=name.replace("_", " ").capitalize(),
                help_text=f"Default: {getattr(defaults, name)}",
                widget=forms.NumberInput(attrs={"placeholder": getattr(defaults, name)}),
            )
        self.order_fields([*POLICY_DEFAULTS, "reason"])

    def changes(self, current) -> dict:
        """Return {field: new value} for the fields that differ from ``current``."""
        return {
            name: self.cleaned_data.get(name)
            for name in POLICY_DEFAULTS
            if self.cleaned_data.get(name) != getattr(current, name, None)
        }
