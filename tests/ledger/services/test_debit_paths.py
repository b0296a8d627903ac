"""The one-statement debit (ledger_debit, PostgreSQL) and the Python posting core are the
same debit: one random sequence of operations, run on two accounts, one debiting through
each path, yields the same outcomes, entries, lots and allocations."""
from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import clock
from ledger.actors import Actor
from ledger.exceptions import LedgerError
from ledger.models import Allocation, CreditAccount, EntryType, Grant, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create, refund_create
from ledger.services.grants import grant_create, grant_void
from tests.factories import AccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ACTOR = Actor.system("paths")
PATHS = ("fast", "python")

grants = st.tuples(st.just("grant"), st.integers(1, 200), st.integers(0, 2),
                  st.one_of(st.none(), st.integers(1, 30)), st.sampled_from([0, 0, 0, 2]))
debits = st.tuples(st.just("debit"), st.integers(1, 150), st.sampled_from(["new", "new", "replay", "conflict", "none"]),
                   st.sampled_from(["", "task"]))
#: Every sequence starts from these lots: ties of priority between expiring and
#: never-expiring lots, so that the consumption order decides each debit.
OPENING = [("grant", 40, 1, None, 0), ("grant", 30, 1, 10, 0), ("grant", 20, 1, 5, 0), ("grant", 10, 0, None, 0),
           ("grant", 25, 1, 3, 2)]
operations = st.one_of(
    grants, debits, debits, debits,
    st.tuples(st.just("overdraft"), st.integers(0, 120)),
    st.tuples(st.just("advance"), st.integers(1, 12)),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("refund"), st.integers(0, 50), st.one_of(st.none(), st.integers(1, 60))),
)


class Ledger:
    """One account and what was done on it, debiting through one path."""

    def __init__(self, path: str, workspace) -> None:
        self.path = path
        self.account = AccountFactory(workspace=workspace)
        self.lots: list[int] = []
        self.debits: list[tuple[str | None, int, int]] = []  # (key, amount, entry id)
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def apply(self, operation: tuple, now) -> tuple:
        """Run one operation; return its outcome in terms that do not name row ids."""
        try:
            with override_settings(LEDGER_DEBIT_FAST_PATH=self.path == "fast"):
                return self._apply(operation, now)
        except LedgerError as error:
            return ("refused", type(error).__name__, error.field,
                    *(getattr(error, name, None) for name in ("balance", "available", "amount")))

    def _apply(self, operation: tuple, now) -> tuple:
        name, *args = operation
        pk = self.account.pk
        if name == "grant":
            amount, priority, days, later = args
            result = grant_create(
                account_id=pk, amount=amount, kind="purchase", actor=ACTOR, idempotency_key=self.key(),
                priority=priority, effective_from=now + timedelta(days=later) if later else None,
                expires_at=None if days is None else now + timedelta(days=later + days),
            )
            self.lots.append(result.grant.pk)
            return ("granted",)
        if name == "debit":
            amount, key_kind, source = args
            key, credits = self.key(), amount
            if key_kind == "none":
                key = None
            elif key_kind in ("replay", "conflict") and self.debits:
                key, credits, _ = self.debits[amount % len(self.debits)]
                credits += key_kind == "conflict"
            result = debit_create(account_id=pk, amount=credits, actor=ACTOR, idempotency_key=key, source=source,
                                  source_id=f"s{amount}" if source else "")
            stored = LedgerEntry.objects.get(pk=result.entry.pk)
            assert fields(result.entry) == fields(stored)
            assert sorted(map(fields, result.allocations), key=lambda a: a["id"]) == [
                fields(a) for a in stored.allocations.order_by("id")
            ]
            if not result.replayed and key is not None:
                self.debits.append((key, credits, result.entry.pk))
            return ("debited", result.replayed, result.entry.seq, [a.amount for a in result.allocations])
        if name == "overdraft":
            account_overdraft_set(account_id=pk, limit=args[0], actor=ACTOR, reason="paths")
            return ("limit",)
        if name == "void" and self.lots:
            grant_void(grant_id=self.lots[args[0] % len(self.lots)], actor=ACTOR, reason="paths",
                       idempotency_key=self.key())
            return ("voided",)
        if name == "refund" and self.debits:
            entry_id = self.debits[args[0] % len(self.debits)][2]
            refund_create(debit_entry_id=entry_id, amount=args[1], actor=ACTOR, idempotency_key=self.key(),
                          reason="paths")
            return ("refunded",)
        return ("nothing",)

    def state(self) -> dict:
        """Every row of the account, ids replaced by positions so two accounts compare."""
        lots = {pk: index for index, pk in enumerate(self.lots)}
        refund_lots = Grant.objects.filter(account=self.account).exclude(pk__in=self.lots).order_by("pk")
        lots.update({pk: f"refund-{n}" for n, pk in enumerate(refund_lots.values_list("pk", flat=True))})
        seqs = dict(LedgerEntry.objects.filter(account=self.account).values_list("pk", "seq"))
        entries = [
            (e.seq, e.entry_type, e.amount, e.balance_before, e.balance_after, lots.get(e.lot_id),
             seqs.get(e.refund_of_id), e.source, e.source_id, e.actor, e.idempotency_key,
             *((e.description, e.request_hash) if e.entry_type == EntryType.DEBIT else ()))
            for e in LedgerEntry.objects.filter(account=self.account).order_by("seq")
        ]
        grants = [
            (lots[g.pk], g.kind, g.amount, g.remaining, g.priority, g.effective_from, g.expires_at,
             g.expired_at is None, g.voided_at is None)
            for g in Grant.objects.filter(account=self.account).order_by("pk")
        ]
        allocations = [
            (seqs[a.entry_id], lots.get(a.lot_id), a.amount, a.refunded)
            for a in Allocation.objects.filter(entry__account=self.account).order_by("entry__seq", "pk")
        ]
        account = CreditAccount.objects.values(
            "balance", "debt", "overdraft_limit", "total_earned", "total_spent", "total_expired", "entry_seq",
        ).get(pk=self.account.pk)
        return {"entries": entries, "lots": grants, "allocations": allocations, "account": account}


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@given(steps=st.lists(operations, min_size=5, max_size=30))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
def test_both_debit_paths_give_the_same_ledger_for_any_sequence_of_operations(workspace, steps):
    start = clock.now()
    moment = [start]
    with mock.patch("ledger.clock.now", lambda: moment[0]):
        ledgers = [Ledger(path, workspace) for path in PATHS]
        for step in OPENING + steps:
            if step[0] == "advance":
                moment[0] += timedelta(days=step[1])
                continue
            outcomes = [ledger.apply(step, moment[0]) for ledger in ledgers]
            assert outcomes[0] == outcomes[1], step
        fast, python = (ledger.state() for ledger in ledgers)
    assert fast == python
