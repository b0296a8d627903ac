"""Credit accounts: one per owner, holding the balance and totals kept by the services."""
from django.db import models
from django.db.models import F, Q

from .parties import ApiKey, Customer, Identity, Workspace


class OwnerKind(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    CUSTOMER = "customer", "Product user"
    API_KEY = "api_key", "API key"
    IDENTITY = "identity", "Identity"


class RefillInterval(models.TextChoices):
    NONE = "", "No refill"
    DAILY = "daily", "Daily"
    MONTHLY = "monthly", "Monthly"


#: Relations to load with an account so that ``owner`` and ``owner_label`` need no query.
OWNER_RELATIONS = ("workspace", "customer", "api_key", "identity")


def _only_owner(kind: str, field: str | None) -> Q:
    owner_fields = ("customer", "api_key", "identity")
    condition = Q(owner_kind=kind)
    for name in owner_fields:
        condition &= Q(**{f"{name}__isnull": name != field})
    return condition


class CreditAccount(models.Model):
    """A balance of credits owned by exactly one workspace, product user, API key or identity.

    ``balance``, ``debt``, the totals and ``entry_seq`` change only through the ledger
    services, in the same transaction as the entry that explains them. Invariants:
    ``balance = total_earned - total_spent - total_expired`` (check constraint) and
    ``balance = sum(lot remaining) - debt = last entry's balance_after`` (PostgreSQL trigger).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="accounts")
    owner_kind = models.CharField(max_length=16, choices=OwnerKind.choices)
    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="account"
    )
    api_key = models.OneToOneField(
        ApiKey, on_delete=models.PROTECT, null=True, blank=True, related_name="account"
    )
    identity = models.OneToOneField(
        Identity, on_delete=models.PROTECT, null=True, blank=True, related_name="account"
    )
    balance = models.BigIntegerField(default=0)
    debt = models.BigIntegerField(default=0, help_text="Credits spent beyond the lots (overdraft).")
    overdraft_limit = models.BigIntegerField(default=0)
    total_earned = models.BigIntegerField(default=0)
    total_spent = models.BigIntegerField(default=0)
    total_expired = models.BigIntegerField(
        default=0, help_text="Credits that left without being spent: expired, voided, reset."
    )
    entry_seq = models.BigIntegerField(default=0, help_text="Sequence number of the last entry.")
    refill_amount = models.BigIntegerField(null=True, blank=True)
    refill_interval = models.CharField(
        max_length=8, choices=RefillInterval.choices, default=RefillInterval.NONE, blank=True
    )
    refill_day = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Day of month 1-31 for monthly refills (last day in a shorter month)."
    )
    last_refill_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    _only_owner(OwnerKind.WORKSPACE, None)
                    | _only_owner(OwnerKind.CUSTOMER, "customer")
                    | _only_owner(OwnerKind.API_KEY, "api_key")
                    | _only_owner(OwnerKind.IDENTITY, "identity")
                ),
                name="ledger_creditaccount_exactly_one_owner",
            ),
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(owner_kind=OwnerKind.WORKSPACE),
                name="ledger_creditaccount_one_per_workspace",
            ),
            models.CheckConstraint(
                condition=Q(debt__gte=0) & Q(debt__lte=F("overdraft_limit")),
                name="ledger_creditaccount_debt_within_overdraft",
            ),
            models.CheckConstraint(
                condition=Q(overdraft_limit__gte=0), name="ledger_creditaccount_overdraft_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(balance=F("total_earned") - F("total_spent") - F("total_expired")),
                name="ledger_creditaccount_totals_add_up",
            ),
            models.CheckConstraint(
                condition=Q(entry_seq__gte=0), name="ledger_creditaccount_entry_seq_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(refill_day__isnull=True) | Q(refill_day__gte=1, refill_day__lte=31),
                name="ledger_creditaccount_refill_day_range",
            ),
            models.CheckConstraint(
                condition=Q(refill_amount__isnull=True) | Q(refill_amount__gte=0),
                name="ledger_creditaccount_refill_amount_nonneg",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "owner_kind"], name="ledger_acct_ws_kind_idx"),
            models.Index(fields=["-balance"], name="ledger_acct_balance_idx"),
            # Dashboards (issue 6): top accounts by spend, and both rankings per workspace.
            models.Index(fields=["-total_spent"], name="ledger_acct_spent_idx"),
            models.Index(fields=["workspace", "-balance"], name="ledger_acct_ws_balance_idx"),
            models.Index(fields=["workspace", "-total_spent"], name="ledger_acct_ws_spent_idx"),
        ]
        permissions = [
            ("grant_credits", "Can grant credits"),
            ("adjust_credits", "Can make manual adjustments"),
            ("void_credits", "Can void grants"),
            ("refund_credits", "Can refund debits"),
            ("approve_grant_requests", "Can approve grants above the Support limit"),
            ("repair_accounts", "Can repair account balances"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.owner_label}"

    @property
    def owner(self) -> object:
        """Return the owning object (workspace, product user, API key or identity)."""
        if self.owner_kind == OwnerKind.CUSTOMER:
            return self.customer
        if self.owner_kind == OwnerKind.API_KEY:
            return self.api_key
        if self.owner_kind == OwnerKind.IDENTITY:
            return self.identity
        return self.workspace

    @property
    def owner_label(self) -> str:
        return f"{OwnerKind(self.owner_kind).label} {self.owner}"
