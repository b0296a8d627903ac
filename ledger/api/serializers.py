"""Request parsing and response rendering. No rule lives here: serializers check shape
and types, the services decide."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from rest_framework import serializers

from ..amounts import MAX_AMOUNT, amount_parse
from ..exceptions import InvalidAmount
from ..models import EntryType, GrantKind, OwnerKind, UsageStatus, UsageTier

#: Grant kinds an API client may create directly. Rewards and signup credits have their own
#: services (with caps and once-only rules); refund lots are made by refunds.
API_GRANT_KINDS = [GrantKind.PURCHASE, GrantKind.MANUAL, GrantKind.REFILL, GrantKind.MIGRATION, GrantKind.ADJUSTMENT]
#: Datetimes outside these years are refused, so expiry arithmetic cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class CreditsField(serializers.IntegerField):
    """A positive whole number of credits, parsed by ``ledger.amounts.amount_parse``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(min_value=1, max_value=MAX_AMOUNT, **kwargs)

    def to_internal_value(self, data):
        try:
            return amount_parse(data, field=self.field_name)
        except InvalidAmount as exc:
            raise serializers.ValidationError(exc.rule) from None


class BoundedDateTimeField(serializers.DateTimeField):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators.append(self._in_range)

    @staticmethod
    def _in_range(value: datetime) -> None:
        if not EARLIEST <= value < LATEST:
            raise serializers.ValidationError("must be between 1970 and 9000")


class SecondsField(serializers.DecimalField):
    """A duration in seconds, 0 or more, to the millisecond: a JSON number or a string
    (``5``, ``5.25``, ``"5.250"``); rendered as an exact decimal string."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=11, decimal_places=3, min_value=Decimal(0),
                         max_value=Decimal("99999999.999"), **kwargs)


def text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, default="", allow_blank=True, **kwargs)


# Requests ------------------------------------------------------------------


class BalanceQuery(serializers.Serializer):
    expiring_within_days = serializers.IntegerField(min_value=0, max_value=3650, default=30, required=False)


class EntriesQuery(serializers.Serializer):
    type = serializers.ListField(child=serializers.ChoiceField(choices=EntryType.choices), required=False)
    created_after = BoundedDateTimeField(required=False)
    created_before = BoundedDateTimeField(required=False)


class AccountLookupQuery(serializers.Serializer):
    owner_kind = serializers.ChoiceField(choices=OwnerKind.choices)
    external_id = serializers.CharField(max_length=256, required=False, default="")


class GrantCreateIn(serializers.Serializer):
    amount = CreditsField()
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in API_GRANT_KINDS], default=GrantKind.PURCHASE)
    reason = text(1000, help_text="Why; required for manual grants and adjustments.")
    priority = serializers.IntegerField(min_value=0, max_value=100, default=50)
    effective_from = BoundedDateTimeField(required=False, help_text="Default: now.")
    expires_at = BoundedDateTimeField(
        required=False, allow_null=True,
        help_text="Omitted: the workspace expiry policy. null: never expires.",
    )
    source = text(64, help_text="Your system's name for where this comes from, e.g. 'order'.")
    source_id = text(200, help_text="Your id of it, e.g. the order number.")
    description = text(1000)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class DebitCreateIn(serializers.Serializer):
    amount = CreditsField()
    description = text(1000)
    source = text(64)
    source_id = text(200)


class RefundCreateIn(ReasonIn):
    amount = CreditsField(required=False, help_text="Default: all that is left to refund.")


class CustomerSignupIn(serializers.Serializer):
    external_id = serializers.CharField(max_length=128, help_text="Your id for this user.")
    email = serializers.EmailField(max_length=254)


class TaskCreateIn(serializers.Serializer):
    tier = serializers.ChoiceField(choices=UsageTier.choices, default=UsageTier.STANDARD)
    external_id = serializers.CharField(
        max_length=200, required=False, allow_null=True, default=None,
        help_text="Your id for the task: creating it again with the same id returns the first task.",
    )
    estimated_duration_seconds = SecondsField(
        required=False, allow_null=True, default=None,
        help_text="Holds the estimate's price now; completion captures the actual price and releases the rest.",
    )


class TaskCompleteIn(serializers.Serializer):
    duration_seconds = SecondsField(help_text="The task's actual duration; its price is charged once.")


class TaskFailIn(serializers.Serializer):
    reason = text(1000)


class TasksQuery(serializers.Serializer):
    status = serializers.ListField(child=serializers.ChoiceField(choices=UsageStatus.choices), required=False)


class InviteIn(serializers.Serializer):
    invited_external_id = serializers.CharField(max_length=128, help_text="Your id of the user who was invited.")


class ShareIn(serializers.Serializer):
    object_id = serializers.CharField(max_length=180, help_text="Your id of what was shared; rewarded once per object.")


class SignInIn(serializers.Serializer):
    """No fields: the reward is for today, in the workspace's time zone."""


# Responses -----------------------------------------------------------------


class AccountOut(serializers.Serializer):
    id = serializers.IntegerField()
    owner_kind = serializers.ChoiceField(choices=OwnerKind.choices)
    owner_external_id = serializers.SerializerMethodField()
    balance = serializers.IntegerField()
    debt = serializers.IntegerField()
    overdraft_limit = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_owner_external_id(self, account) -> str | None:
        """The product's id of the owner; null for the workspace's own account."""
        return None if account.owner_kind == OwnerKind.WORKSPACE else account.owner.external_id


class TotalsOut(serializers.Serializer):
    earned = serializers.IntegerField(source="total_earned")
    spent = serializers.IntegerField(source="total_spent")
    expired = serializers.IntegerField(source="total_expired")


class ExpiringLotOut(serializers.Serializer):
    grant_id = serializers.IntegerField(source="id")
    kind = serializers.CharField()
    remaining = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class ExpiringOut(serializers.Serializer):
    within_days = serializers.IntegerField(source="expiring_within_days")
    until = serializers.DateTimeField(source="expiring_until")
    credits = serializers.IntegerField(source="expiring_credits")
    lots = ExpiringLotOut(many=True, source="expiring_lots")


class BalanceOut(serializers.Serializer):
    account_id = serializers.IntegerField(source="account.id")
    balance = serializers.IntegerField(source="account.balance")
    available = serializers.IntegerField(help_text="What a debit may take now, overdraft included.")
    debt = serializers.IntegerField(source="account.debt")
    overdraft_limit = serializers.IntegerField(source="account.overdraft_limit")
    totals = TotalsOut(source="account")
    expiring = ExpiringOut(source="*")


class EntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    type = serializers.ChoiceField(source="entry_type", choices=EntryType.choices)
    amount = serializers.IntegerField()
    balance_before = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    grant_id = serializers.IntegerField(source="lot_id", allow_null=True)
    refund_of = serializers.IntegerField(source="refund_of_id", allow_null=True)
    source = serializers.CharField()
    source_id = serializers.CharField()
    description = serializers.CharField()
    actor = serializers.CharField()
    idempotency_key = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class GrantOut(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=GrantKind.choices)
    amount = serializers.IntegerField()
    remaining = serializers.IntegerField()
    priority = serializers.IntegerField()
    effective_from = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    source = serializers.CharField()
    source_id = serializers.CharField()
    created_at = serializers.DateTimeField()


class GrantResultOut(serializers.Serializer):
    grant = GrantOut()
    entry = EntryOut(allow_null=True, help_text="null when a void found nothing left to take back.")


class AllocationOut(serializers.Serializer):
    grant_id = serializers.IntegerField(source="lot_id", allow_null=True, help_text="null: taken as debt.")
    amount = serializers.IntegerField()
    refunded = serializers.IntegerField()


class DebitOut(serializers.Serializer):
    entry = EntryOut()
    allocations = AllocationOut(many=True)


class RefundOut(serializers.Serializer):
    entry = EntryOut()


class CustomerOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    email = serializers.EmailField()
    created_at = serializers.DateTimeField()


class SignupOut(serializers.Serializer):
    created = serializers.BooleanField(help_text="false: the user already existed; nothing was granted.")
    customer = CustomerOut()
    account = AccountOut()


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorOut(serializers.Serializer):
    error = ErrorDetailOut()


class InsufficientDetailOut(ErrorDetailOut):
    balance = serializers.IntegerField()
    available = serializers.IntegerField()
    amount = serializers.IntegerField(help_text="The amount asked.")


class InsufficientOut(serializers.Serializer):
    error = InsufficientDetailOut()


class HoldOut(serializers.Serializer):
    amount = serializers.IntegerField(source="hold_amount", help_text="Credits held at creation (0: no hold).")
    active = serializers.BooleanField(source="hold_active")
    expires_at = serializers.DateTimeField(source="hold_expires_at", allow_null=True)
    released_at = serializers.DateTimeField(source="hold_released_at", allow_null=True)


class TaskOut(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    tier = serializers.ChoiceField(choices=UsageTier.choices)
    status = serializers.ChoiceField(choices=UsageStatus.choices)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    estimated_duration_seconds = SecondsField(allow_null=True)
    duration_seconds = SecondsField(source="output_duration_seconds", allow_null=True)
    credits_calculated = serializers.IntegerField(allow_null=True, help_text="The price of the actual duration.")
    credits_deducted = serializers.BooleanField(help_text="true once the task was charged (exactly once).")
    shortfall = serializers.IntegerField(help_text="Credits of the price the account could not cover.")
    charge_entry_id = serializers.IntegerField(allow_null=True)
    hold = HoldOut(source="*")
    failure_reason = serializers.CharField()


class RewardOut(serializers.Serializer):
    granted = serializers.BooleanField(help_text="false: nothing was granted now; `reason` says why.")
    replayed = serializers.BooleanField(help_text="true: this reward was already given; `grant` is that one.")
    reason = serializers.CharField(help_text="Why nothing was granted; empty when granted.")
    grant = GrantOut(allow_null=True)
    entry = EntryOut(allow_null=True)
