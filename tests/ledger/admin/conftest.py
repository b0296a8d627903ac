"""Staff users in the groups the data migration creates, and an account with history."""
import pytest
from django.contrib.auth.models import Group

from ledger.actors import Actor
from ledger.models import GrantKind
from ledger.roles import OPERATIONS, SUPPORT
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create

from ...factories import AccountFactory, StaffFactory


def _member(name, group):
    user = StaffFactory(username=name)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def support(db):
    return _member("support", SUPPORT)


@pytest.fixture
def operations(db):
    return _member("operations", OPERATIONS)


@pytest.fixture
def operations2(db):
    return _member("operations2", OPERATIONS)


@pytest.fixture
def plain_staff(db):
    return _member("plain", None)


@pytest.fixture
def funded(db):
    """An account with a 500-credit lot and a 120-credit debit."""
    account = AccountFactory()
    actor = Actor.system("tests")
    grant = grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="p")
    debit = debit_create(account_id=account.pk, amount=120, actor=actor, idempotency_key="d", description="Render")
    account.refresh_from_db()
    account.lot = grant.grant
    account.debit = debit.entry
    return account
