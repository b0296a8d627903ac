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


@contextmanager
def planted_fault():
    """Let a test write a row that breaks a ledger invariant, around the database's guards.

    On PostgreSQL the pending deferred checks run first (the ledger is consistent up to
    here), then triggers are off for the planting statements only.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")
