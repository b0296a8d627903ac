"""Ledgers for report and dashboard tests, built through the services, and fault planting
that goes around the database's own defences (as a bad script or a bug would)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction

from ledger import clock
from ledger.actors import Actor
from ledger.models import CreditAccount, EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.postings import Posting, account_lock, entry_append

from ..factories import AccountFactory, CustomerFactory, WorkspaceFactory

ACTOR = Actor.system("tests")


@dataclass
class Ledger:
    workspaces: list = field(default_factory=list)
    accounts: list[CreditAccount] = field(default_factory=list)


def ledger_build(*, workspaces: int = 2, accounts_per_workspace: int = 3) -> Ledger:
    """Return a clean ledger: each account gets two grants and two debits (one drawing
    across lots), so it has entries, several lots and allocations."""
    built = Ledger()
    for w in range(workspaces):
        workspace = WorkspaceFactory(slug=f"ws-{w}")
        built.workspaces.append(workspace)
        for n in range(accounts_per_workspace):
            account = AccountFactory(workspace=workspace, customer=CustomerFactory(workspace=workspace))
            grant_create(account_id=account.pk, amount=100 + n, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="g1")
            grant_create(account_id=account.pk, amount=50, kind=GrantKind.SIGNUP, actor=ACTOR, idempotency_key="g2", expires_at=None)
            debit_create(account_id=account.pk, amount=30, actor=ACTOR, idempotency_key="d1")
            debit_create(account_id=account.pk, amount=90, actor=ACTOR, idempotency_key="d2")
            account.refresh_from_db()
            built.accounts.append(account)
    return built


def lot_expire(lot: Grant) -> LedgerEntry:
    """Expire what is left of a lot the way the expiry job does (the job is another module)."""
    with transaction.atomic():
        account = account_lock(account_id=lot.account_id)
        lot.refresh_from_db()
        left = lot.remaining
        lot.remaining, lot.expired_at = 0, clock.now()
        lot.save(update_fields=["remaining", "expired_at"])
        return entry_append(account=account, entry_type=EntryType.EXPIRE, amount=-left,
                            posting=Posting(actor=ACTOR, description="expired"), lot=lot)


@contextmanager
def defences_off():
    """Disable triggers (PostgreSQL: replica role) and check constraints on lots (dropped
    inside the test's transaction, so the rollback restores it; SQLite: a pragma)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Fire the pending deferred checks now: ALTER TABLE refuses to run with them queued.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE ledger_grant DROP CONSTRAINT IF EXISTS ledger_grant_remaining_within_amount")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute("SET session_replication_role = replica")
        else:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = origin")
            else:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")


def entry_plant(cursor, *, account: CreditAccount, seq: int, amount: int, before: int) -> None:
    """Insert an entry directly, with the given seq and balance_before."""
    cursor.execute(
        "INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, "
        "source, source_id, description, actor, request_hash, created_at) "
        "VALUES (%s, %s, 'debit', %s, %s, %s, '', '', 'planted', 'tests', '', %s)",
        [account.pk, seq, amount, before, before + amount, connection.ops.adapt_datetimefield_value(clock.now())],
    )


