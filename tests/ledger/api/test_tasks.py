"""Usage tasks over the API: create (soft check, hold), complete (charged once), fail, get, list."""
import pytest

from ledger.actors import Actor
from ledger.models import CreditAccount, EntryType, GrantKind, LedgerEntry, UsageStatus, UsageTask
from ledger.services.grants import grant_create
from ledger.services.usage import task_create
from tests.concurrency import run_in_threads
from tests.factories import AccountFactory, WorkspaceFactory

from ..helpers import nothing_written
from .conftest import client_for, post

pytestmark = pytest.mark.django_db


def tasks_url(account, task=None, action=""):
    base = f"/api/v1/accounts/{account.pk}/tasks/"
    return base if task is None else f"{base}{task.pk if hasattr(task, 'pk') else task}/{action}"


@pytest.fixture
def task(funded, actor):
    return task_create(account_id=funded.pk, tier="pro", actor=actor, external_id="job-1").task


def test_create_accepts_a_task_without_charging_it(api, funded):
    with nothing_written():  # no hold: nothing moves in the ledger
        response = post(api, tasks_url(funded), {"tier": "standard", "external_id": "job-9"})
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["tier"], body["external_id"], body["account_id"]) == ("pending", "standard", "job-9", funded.pk)
    assert (body["credits_deducted"], body["credits_calculated"], body["hold"]["amount"]) == (False, None, 0)


def test_create_with_an_estimate_holds_its_price(api, funded):
    response = post(api, tasks_url(funded), {"tier": "pro", "estimated_duration_seconds": "2.5"})
    assert response.status_code == 201
    hold = response.json()["hold"]
    assert (hold["amount"], hold["active"]) == (35, True) and hold["expires_at"]
    assert response.json()["estimated_duration_seconds"] == "2.500"
    funded.refresh_from_db()
    assert funded.balance == 465


def test_create_with_a_known_external_id_returns_the_first_task_with_200(api, funded, task):
    response = post(api, tasks_url(funded), {"tier": "pro", "external_id": "job-1"})
    assert response.status_code == 200 and response.json()["id"] == task.pk
    assert UsageTask.objects.count() == 1


def test_create_with_a_known_external_id_and_another_tier_is_409_on_external_id(api, funded, task):
    with nothing_written():
        response = post(api, tasks_url(funded), {"tier": "standard", "external_id": "job-1"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "task_conflict" and list(error["fields"]) == ["external_id"]


def test_soft_check_refusal_is_402_with_balance_and_amount(api, account):
    with nothing_written():
        response = post(api, tasks_url(account), {"tier": "standard"})
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["balance"], error["amount"]) == ("insufficient_credits", 0, 1)
    assert not UsageTask.objects.exists()


def test_hold_the_account_cannot_cover_is_402(api, funded):
    response = post(api, tasks_url(funded), {"tier": "standard", "estimated_duration_seconds": 51})
    assert response.status_code == 402 and response.json()["error"]["amount"] == 510
    assert not UsageTask.objects.exists()


@pytest.mark.parametrize(("payload", "field"), [
    ({"tier": "gold"}, "tier"),
    ({"estimated_duration_seconds": -1}, "estimated_duration_seconds"),
    ({"estimated_duration_seconds": "1.2345"}, "estimated_duration_seconds"),
    ({"estimated_duration_seconds": "NaN"}, "estimated_duration_seconds"),
    ({"external_id": ""}, "external_id"),
    ({"external_id": "x" * 201}, "external_id"),
])
def test_invalid_create_is_400_naming_the_field(api, funded, payload, field):
    response = post(api, tasks_url(funded), payload)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_complete_charges_the_actual_duration_once(api, funded, task):
    url = tasks_url(funded, task, "complete/")
    first = post(api, url, {"duration_seconds": 5.0})
    assert first.status_code == 200
    body = first.json()
    assert (body["status"], body["duration_seconds"], body["credits_calculated"], body["credits_deducted"]) == (
        "succeeded", "5.000", 70, True)
    charge = LedgerEntry.objects.get(pk=body["charge_entry_id"])
    assert (charge.entry_type, charge.amount) == (EntryType.DEBIT, -70)
    # The worker delivers the callback again, with a fresh key: same body, no second charge.
    with nothing_written():
        again = post(api, url, {"duration_seconds": "5"})
    assert (again.status_code, again.json()) == (200, body)
    assert LedgerEntry.objects.filter(account=funded, entry_type=EntryType.DEBIT).count() == 1


def test_complete_replayed_by_key_is_byte_identical(api, funded, task):
    url = tasks_url(funded, task, "complete/")
    first = post(api, url, {"duration_seconds": 1}, key="done-1")
    again = post(api, url, {"duration_seconds": 1}, key="done-1")
    assert (again.status_code, again.content) == (200, first.content) and again["Idempotent-Replayed"] == "true"


def test_complete_captures_the_hold_and_releases_the_rest(api, funded):
    created = post(api, tasks_url(funded), {"tier": "pro", "estimated_duration_seconds": 10}).json()
    body = post(api, tasks_url(funded, created["id"], "complete/"), {"duration_seconds": "2.5"}).json()
    assert (body["credits_calculated"], body["hold"]["active"]) == (35, False)
    funded.refresh_from_db()
    assert funded.balance == 465


def test_complete_beyond_the_balance_records_the_shortfall(api, funded, task):
    body = post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 40}).json()
    assert (body["credits_calculated"], body["credits_deducted"]) == (560, True)
    assert body["shortfall"] == 560 - 500  # no overdraft limit: what could not be covered


def test_complete_with_another_duration_is_409_and_charges_nothing_more(api, funded, task):
    post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 5})
    with nothing_written():
        response = post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 6})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "task_conflict" and list(error["fields"]) == ["duration_seconds"]


def test_complete_of_a_failed_task_is_409_and_never_charges(api, funded, task):
    post(api, tasks_url(funded, task, "fail/"), {"reason": "crash"})
    with nothing_written():
        response = post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 5})
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("payload", [{}, {"duration_seconds": -1}, {"duration_seconds": "soon"},
                                     {"duration_seconds": 100_000_000}])
def test_complete_without_a_valid_duration_is_400(api, funded, task, payload):
    response = post(api, tasks_url(funded, task, "complete/"), payload)
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["duration_seconds"]


def test_fail_releases_the_hold_and_never_charges(api, funded):
    created = post(api, tasks_url(funded), {"tier": "standard", "estimated_duration_seconds": 3}).json()
    response = post(api, tasks_url(funded, created["id"], "fail/"), {"reason": "renderer crashed"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["failure_reason"], body["credits_deducted"], body["hold"]["active"]) == (
        "failed", "renderer crashed", False, False)
    funded.refresh_from_db()
    assert funded.balance == 500
    assert post(api, tasks_url(funded, created["id"], "fail/"), {}).json()["status"] == "failed"  # again: no-op


def test_fail_of_a_succeeded_task_is_409(api, funded, task):
    post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 1})
    response = post(api, tasks_url(funded, task, "fail/"), {})
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"


def test_get_shows_status_credits_and_shortfall(api, funded, task):
    post(api, tasks_url(funded, task, "complete/"), {"duration_seconds": 3})
    body = api.get(tasks_url(funded, task)).json()
    assert (body["id"], body["status"], body["credits_calculated"], body["credits_deducted"], body["shortfall"]) == (
        task.pk, "succeeded", 42, True, 0)


def test_list_is_newest_first_cursor_paginated_and_filtered_by_status(api, funded, actor):
    ids = [task_create(account_id=funded.pk, tier="standard", actor=actor).task.pk for _ in range(5)]
    post(api, tasks_url(funded, ids[0], "fail/"), {})
    first = api.get(tasks_url(funded), {"page_size": 3}).json()
    assert [t["id"] for t in first["results"]] == ids[::-1][:3]
    second = api.get(first["next"]).json()
    assert [t["id"] for t in second["results"]] == ids[::-1][3:]
    failed = api.get(tasks_url(funded), {"status": "failed"}).json()["results"]
    assert [t["id"] for t in failed] == [ids[0]]
    both = api.get(f"{tasks_url(funded)}?status=failed&status=pending").json()["results"]
    assert len(both) == 5


def test_list_with_an_unknown_status_is_400(api, funded):
    response = api.get(tasks_url(funded), {"status": "done"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["status.0"]


def test_task_of_another_account_in_the_workspace_is_404(api, funded, task, workspace):
    other = CreditAccount.objects.create(workspace=workspace, owner_kind="workspace")
    assert api.get(tasks_url(other, task)).status_code == 404
    with nothing_written():
        response = post(api, tasks_url(other, task, "complete/"), {"duration_seconds": 1})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert post(api, tasks_url(other, task, "fail/"), {}).status_code == 404


@pytest.mark.parametrize(("method", "suffix", "payload"), [
    ("get", "", None), ("get", "{task}/", None), ("post", "", {"tier": "pro"}),
    ("post", "{task}/complete/", {"duration_seconds": 1}), ("post", "{task}/fail/", {}),
])
def test_another_workspaces_task_is_404_exactly_like_a_missing_one(funded, task, method, suffix, payload):
    stranger = client_for(WorkspaceFactory())

    def call(account_id, task_id):
        url = f"/api/v1/accounts/{account_id}/tasks/" + suffix.format(task=task_id)
        return stranger.get(url) if method == "get" else post(stranger, url, payload)

    foreign, missing = call(funded.pk, task.pk), call(funded.pk + 1000, task.pk + 1000)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
    assert UsageTask.objects.get(pk=task.pk).status == UsageStatus.PENDING


@pytest.mark.parametrize(("method", "suffix", "payload", "ability"), [
    ("get", "", None, "read"),
    ("get", "{task}/", None, "read"),
    ("post", "", {"tier": "pro"}, "complete_tasks"),
    ("post", "{task}/complete/", {"duration_seconds": 1}, "complete_tasks"),
    ("post", "{task}/fail/", {}, "complete_tasks"),
])
def test_task_endpoints_need_their_ability(funded, task, method, suffix, payload, ability):
    url = tasks_url(funded) + suffix.format(task=task.pk)
    denied = client_for(funded.workspace, [a for a in ("read", "debit", "grant", "complete_tasks") if a != ability])
    allowed = client_for(funded.workspace, [ability])
    call = (lambda c: c.get(url)) if method == "get" else (lambda c: post(c, url, payload))
    response = call(denied)
    assert response.status_code == 403 and ability in response.json()["error"]["message"]
    assert call(allowed).status_code in (200, 201)


def test_task_writes_need_an_idempotency_key(api, funded, task):
    response = api.post(tasks_url(funded, task, "complete/"), {"duration_seconds": 1}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_missing"
    assert UsageTask.objects.get(pk=task.pk).status == UsageStatus.PENDING


def test_create_is_refused_for_another_workspaces_account_without_writing(funded):
    other = AccountFactory()
    response = post(client_for(other.workspace), tasks_url(funded), {"tier": "pro"})
    assert response.status_code == 404 and not UsageTask.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_completing_at_once_with_different_keys_charge_once():
    account = AccountFactory()
    actor = Actor.system("tests")
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="fund")
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    client = client_for(account.workspace)
    responses, errors = run_in_threads(
        lambda n: post(client, tasks_url(account, task, "complete/"), {"duration_seconds": 5}, key=f"cb-{n}"), 3
    )
    assert errors == []
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({r.content for r in responses}) == 1
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.DEBIT).count() == 1
    account.refresh_from_db()
    assert account.balance == 430
