"""Assertions shared by ledger tests."""
from contextlib import contextmanager

from ledger.models import Allocation, AuditEvent, CreditAccount, Grant, LedgerEntry


def snapshot() -> tuple:
    """Every ledger row's state, to prove a call wrote nothing."""
    return (
        list(CreditAccount.objects.order_by("pk").values()),
        list(Grant.objects.order_by("pk").values()),
        list(LedgerEntry.objects.order_by("pk").values()),
        list(Allocation.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    )


@contextmanager
def nothing_written():
    """Fail if the block changes any ledger row (the block is expected to raise)."""
    before = snapshot()
    try:
        yield
    finally:
        assert snapshot() == before, "a refused call wrote to the ledger"
