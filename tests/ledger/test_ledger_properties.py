"""Property test: any sequence of ledger operations keeps the invariants of DESIGN.md."""
from datetime import timedelta

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger import clock
from ledger.actors import Actor
from ledger.exceptions import InsufficientCredits, InvalidInput
from ledger.models import CreditAccount, EntryType, Grant, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.adjustments import adjustment_create
from ledger.services.debits import debit_create, refund_create
from ledger.services.grants import grant_create, grant_void
from tests.factories import AccountFactory

ACTOR = Actor.system("properties")
amounts = st.integers(min_value=1, max_value=500)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.account = AccountFactory()
        self.keys = 0
        self.debits: list[int] = []
        self.lots: list[int] = []
        self.expected_balance = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    @rule(amount=amounts, priority=st.integers(0, 100), days=st.one_of(st.none(), st.integers(1, 400)))
    def grant(self, amount, priority, days):
        expires_at = None if days is None else clock.now() + timedelta(days=days)
        result = grant_create(
            account_id=self.account.pk, amount=amount, kind="purchase", actor=ACTOR,
            idempotency_key=self.key(), priority=priority, expires_at=expires_at,
        )
        self.lots.append(result.grant.pk)
        self.expected_balance += amount

    @rule(amount=amounts, replay=st.booleans())
    def debit(self, amount, replay):
        key = self.key()
        try:
            result = debit_create(account_id=self.account.pk, amount=amount, actor=ACTOR, idempotency_key=key)
        except InsufficientCredits:
            return
        self.debits.append(result.entry.pk)
        self.expected_balance -= amount
        if replay:
            again = debit_create(account_id=self.account.pk, amount=amount, actor=ACTOR, idempotency_key=key)
            assert again.replayed and again.entry.pk == result.entry.pk

    @precondition(lambda self: self.debits)
    @rule(data=st.data())
    def refund(self, data):
        entry_id = data.draw(st.sampled_from(self.debits))
        amount = data.draw(st.one_of(st.none(), amounts))
        try:
            result = refund_create(debit_entry_id=entry_id, amount=amount, actor=ACTOR, idempotency_key=self.key(), reason="p")
        except InvalidInput:
            return
        self.expected_balance += result.entry.amount

    @precondition(lambda self: self.lots)
    @rule(data=st.data())
    def void(self, data):
        lot_id = data.draw(st.sampled_from(self.lots))
        result = grant_void(grant_id=lot_id, actor=ACTOR, reason="p", idempotency_key=self.key())
        if result.entry is not None and not result.replayed:
            self.expected_balance += result.entry.amount

    @rule(amount=st.integers(-300, 300).filter(bool))
    def adjust(self, amount):
        try:
            result = adjustment_create(account_id=self.account.pk, amount=amount, reason="p", actor=ACTOR, idempotency_key=self.key())
        except InsufficientCredits:
            return
        self.expected_balance += result.entry.amount

    @rule(limit=st.integers(0, 300))
    def overdraft(self, limit):
        try:
            account_overdraft_set(account_id=self.account.pk, limit=limit, actor=ACTOR, reason="p")
        except InvalidInput:
            pass

    @invariant()
    def balance_is_explained_everywhere(self):
        account = CreditAccount.objects.get(pk=self.account.pk)
        entries = LedgerEntry.objects.filter(account=account)
        in_lots = Grant.objects.filter(account=account).aggregate(s=Sum("remaining"))["s"] or 0
        assert account.balance == self.expected_balance
        assert account.balance == (entries.aggregate(s=Sum("amount"))["s"] or 0)
        assert account.balance == in_lots - account.debt
        assert account.balance == account.total_earned - account.total_spent - account.total_expired
        assert 0 <= account.debt <= account.overdraft_limit

    @invariant()
    def entries_chain_and_lots_stay_in_range(self):
        rows = list(LedgerEntry.objects.filter(account_id=self.account.pk).order_by("seq").values_list("seq", "balance_before", "balance_after", "amount", "entry_type"))
        previous_after = 0
        for index, (seq, before, after, amount, entry_type) in enumerate(rows, start=1):
            assert seq == index and before == previous_after and after == before + amount and amount != 0
            assert entry_type in EntryType.values
            previous_after = after
        for amount, remaining in Grant.objects.filter(account_id=self.account.pk).values_list("amount", "remaining"):
            assert 0 <= remaining <= amount


@pytest.mark.django_db
def test_ledger_invariants_hold_for_any_sequence_of_operations(debit_path):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40, stateful_step_count=30, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
