"""Ledger entries (immutable) and allocations (which lots a debit drew from)."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .accounts import CreditAccount
from .grants import Grant


class EntryType(models.TextChoices):
    GRANT = "grant", "Grant"
    DEBIT = "debit", "Debit"
    REFUND = "refund", "Refund"
    VOID = "void", "Void"
    EXPIRE = "expire", "Expiry"
    ADJUSTMENT = "adjustment", "Adjustment"
    REFILL = "refill", "Refill"
    HOLD = "hold", "Hold"
    RELEASE = "release", "Hold release"


class LedgerEntry(models.Model):
    """One change of one account's balance. Never updated or deleted (on PostgreSQL a
    trigger refuses it); mistakes are corrected by a new entry. Entries of an account are
    numbered by ``seq`` without gaps and each one's balance_before is the previous
    balance_after."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    seq = models.BigIntegerField()
    entry_type = models.CharField(max_length=16, choices=EntryType.choices)
    amount = models.BigIntegerField()
    balance_before = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    lot = models.ForeignKey(
        Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    source = models.CharField(max_length=64, blank=True)
    source_id = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    actor = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_ledgerentry_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(balance_after=F("balance_before") + F("amount")),
                name="ledger_ledgerentry_balance_chains",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_ledgerentry_seq_positive"),
            models.UniqueConstraint(fields=["account", "seq"], name="ledger_ledgerentry_unique_seq"),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_ledgerentry_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["entry_type", "created_at"], name="ledger_entry_type_created_idx"),
            models.Index(fields=["source", "source_id"], name="ledger_entry_source_idx"),
            # The admin lists entries newest first (-id, keyset friendly), filtered by
            # account or by type: these let PostgreSQL walk the index backwards and stop.
            models.Index(fields=["account", "id"], name="ledger_entry_account_id_idx"),
            models.Index(fields=["entry_type", "id"], name="ledger_entry_type_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_entry_type_display()} {self.amount:+d} on account {self.account_id}"


class Allocation(models.Model):
    """The part of a debit (or hold) drawn from one lot; ``lot`` empty for the part taken
    as debt. ``refunded`` counts what refunds have returned of it."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(
        Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="allocations"
    )
    amount = models.BigIntegerField()
    refunded = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_allocation_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=F("amount")),
                name="ledger_allocation_refunded_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from lot {self.lot_id or 'debt'}"
