"""Query counts of the API views, pinned so an N+1 shows up as a failure.

Each count includes the token lookup (1). ``last_used_at`` is written at most once a minute,
so the first request is made before counting.
"""
import pytest
from django.db import connection

from ledger.models import GrantKind
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create

from .conftest import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(funded, actor):
    """An account with many lots and entries: counts must not grow with them."""
    for n in range(15):
        grant_create(account_id=funded.pk, amount=5, kind=GrantKind.PURCHASE, actor=actor, idempotency_key=f"g{n}")
        debit_create(account_id=funded.pk, amount=2, actor=actor, idempotency_key=f"d{n}")
    return funded


@pytest.fixture
def warm(api, busy):
    api.get(f"/api/v1/accounts/{busy.pk}/balance/")  # records last_used_at
    return api


def test_balance_is_four_queries(warm, busy, django_assert_num_queries):
    # token, account with owner, lot sums, expiring lots
    with django_assert_num_queries(4):
        assert warm.get(f"/api/v1/accounts/{busy.pk}/balance/", {"expiring_within_days": 365}).status_code == 200


def test_entries_page_is_three_queries(warm, busy, django_assert_num_queries):
    # token, account check, one page
    with django_assert_num_queries(3):
        response = warm.get(f"/api/v1/accounts/{busy.pk}/entries/", {"page_size": 20})
    assert len(response.json()["results"]) == 20


def test_lookup_is_two_queries(warm, busy, django_assert_num_queries):
    external_id = busy.customer.external_id
    with django_assert_num_queries(2):  # token, account with owner
        response = warm.get("/api/v1/accounts/lookup/", {"owner_kind": "customer", "external_id": external_id})
    assert response.json()["owner_external_id"] == external_id


def test_replayed_write_is_two_queries_and_never_reaches_the_ledger(warm, busy, django_assert_num_queries):
    url = f"/api/v1/accounts/{busy.pk}/debits/"
    post(warm, url, {"amount": 1}, key="once")
    # token, stored response (the advisory lock and unlock add two on PostgreSQL)
    expected = 4 if connection.vendor == "postgresql" else 2
    with django_assert_num_queries(expected):
        assert post(warm, url, {"amount": 1}, key="once")["Idempotent-Replayed"] == "true"


def test_debit_query_count_does_not_grow_with_the_account_history(warm, busy, debit_path, django_assert_num_queries):
    # 14: token, key lookup, the debit service's nine (seven statements, savepoint, release),
    # storing the response; PostgreSQL adds the advisory lock and unlock, and its fast path
    # makes the debit one statement (six fewer).
    expected = 14 + (2 if connection.vendor == "postgresql" else 0) - (6 if debit_path == "fast" else 0)
    with django_assert_num_queries(expected):
        assert post(warm, f"/api/v1/accounts/{busy.pk}/debits/", {"amount": 30}).status_code == 201


@pytest.fixture
def tasks(busy, actor):
    """Many tasks on the account: reads must not grow with them."""
    from ledger.services.usage import task_create

    return [task_create(account_id=busy.pk, tier="standard", actor=actor).task for _ in range(12)]


def _pg(extra: int) -> int:
    """PostgreSQL adds the advisory lock and unlock to every write."""
    return extra + (2 if connection.vendor == "postgresql" else 0)


def test_task_get_is_two_queries(warm, busy, tasks, django_assert_num_queries):
    with django_assert_num_queries(2):  # token, the task
        assert warm.get(f"/api/v1/accounts/{busy.pk}/tasks/{tasks[0].pk}/").status_code == 200


def test_task_list_page_is_three_queries(warm, busy, tasks, django_assert_num_queries):
    with django_assert_num_queries(3):  # token, account check, one page
        response = warm.get(f"/api/v1/accounts/{busy.pk}/tasks/", {"page_size": 10})
    assert len(response.json()["results"]) == 10


def test_task_create_query_count(warm, busy, tasks, django_assert_num_queries):
    # token, key lookup, account lock, external id check, insert, storing the response (with savepoints)
    with django_assert_num_queries(_pg(10)):
        assert post(warm, f"/api/v1/accounts/{busy.pk}/tasks/", {"tier": "pro", "external_id": "j"}).status_code == 201


def test_task_complete_query_count_does_not_grow_with_the_account_history(warm, busy, tasks, django_assert_num_queries):
    # token, key lookup, task and account locks, policy, lots, the debit's writes, the task, storing the response
    with django_assert_num_queries(_pg(18)):
        assert post(warm, f"/api/v1/accounts/{busy.pk}/tasks/{tasks[0].pk}/complete/", {"duration_seconds": 2}).status_code == 200


def test_reward_sign_in_query_count(warm, busy, django_assert_num_queries):
    # token, key lookup, the account's user, policy, account open and lock, reward key, grant writes, response
    with django_assert_num_queries(_pg(16)):
        assert post(warm, f"/api/v1/accounts/{busy.pk}/rewards/sign-in/").status_code == 201
