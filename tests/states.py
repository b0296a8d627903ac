"""One dataset holding every state the ledger and migrations_ops can be in.

:func:`every_state` builds it through the services (the way the rows come to exist in
production), except for the states only a lost message makes: a usage task that succeeded
but was never charged is planted as the row a lost completion callback leaves.
:func:`missing_states` names what the dataset lacks, enumerated from the models' choices, so
a status added later fails the pages smoke test until this module builds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group

from ledger import clock
from ledger.actors import Actor
from ledger.models import (
    ApiToken,
    CreditAccount,
    EntryType,
    Grant,
    GrantKind,
    GrantRequest,
    GrantRequestStatus,
    LedgerEntry,
    OwnerKind,
    RefillInterval,
    UsageStatus,
    UsageTask,
)
from ledger.reports import reports_all
from ledger.roles import OPERATIONS, SUPPORT
from ledger.services import accounts as account_services
from ledger.services.adjustments import adjustment_create
from ledger.services.api_tokens import api_token_create, api_token_revoke
from ledger.services.customers import customer_signup
from ledger.services.debits import debit_create, refund_create
from ledger.services.expiry import grants_expire_due
from ledger.services.grant_requests import grant_request_approve, grant_request_create, grant_request_reject
from ledger.services.grants import grant_create, grant_void
from ledger.services.policies import policy_update
from ledger.services.refills import account_refill
from ledger.services.reports import report_run_store
from ledger.services.usage import task_complete, task_create, task_fail, task_start
from migrations_ops.legacy import KEYS_TABLE, legacy_table_drop
from migrations_ops.models import RecordAction, Run, RunRecord, RunStatus
from migrations_ops.services import rollbacks, runs

from .factories import ApiKeyFactory, CustomerFactory, IdentityFactory, StaffFactory, WorkspaceFactory
from .migrations_ops.conftest import keys_table_create, operation_run, phase_store

#: Lot states, as the account page and the expiry report tell them apart.
LOT_STATES = ("active", "spent", "lapsed", "expired", "voided")
#: Balance states of an account.
BALANCE_STATES = ("debt", "zero", "positive")
#: The staff roles pages are seen as: the groups of ledger.roles, a superuser, staff in no group.
ROLES = ("superuser", SUPPORT, OPERATIONS, "no group")


@dataclass
class States:
    """The dataset, with the staff users of each role."""

    staff: dict[str, object] = field(default_factory=dict)
    workspace: object = None


def _open(workspace, kind: str, owner=None) -> CreditAccount:
    return account_services.account_open(workspace_id=workspace.pk, owner_kind=kind,
                                         owner_id=owner.pk if owner else None)


def _staff() -> dict[str, object]:
    users = {"superuser": StaffFactory(username="root", is_superuser=True)}
    for role in (SUPPORT, OPERATIONS):
        users[role] = StaffFactory(username=role.lower())
        users[role].groups.add(Group.objects.get(name=role))
    users["no group"] = StaffFactory(username="nogroup")
    return users


def _balances(workspace, actor: Actor, staff: Actor) -> None:
    """Accounts of each owner kind, in debt, at zero and positive; every entry type."""
    now = clock.now()
    rich = customer_signup(workspace_id=workspace.pk, external_id="rich", email="rich@example.com", actor=actor).account
    grant_create(account_id=rich.pk, amount=5000, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="buy",
                 expires_at=None)
    debit = debit_create(account_id=rich.pk, amount=300, actor=actor, idempotency_key="spend", description="Render")
    refund_create(debit_entry_id=debit.entry.pk, actor=staff, idempotency_key="refund", reason="bad render", amount=100)
    adjustment_create(account_id=rich.pk, amount=-20, reason="correction", actor=staff, idempotency_key="adj")
    voided = grant_create(account_id=rich.pk, amount=70, kind=GrantKind.MANUAL, reason="goodwill", actor=staff,
                          idempotency_key="goodwill").grant
    grant_void(grant_id=voided.pk, actor=staff, reason="granted twice", idempotency_key="void")
    past = grant_create(account_id=rich.pk, amount=40, kind=GrantKind.SHARE, actor=actor, idempotency_key="old",
                        effective_from=now - timedelta(days=60), expires_at=now - timedelta(days=2)).grant
    grants_expire_due(actor=actor, at=now - timedelta(days=1))
    grant_create(account_id=rich.pk, amount=30, kind=GrantKind.DAILY_SIGNIN, actor=actor, idempotency_key="lapsed",
                 effective_from=now - timedelta(days=30), expires_at=now - timedelta(hours=1))
    assert Grant.objects.get(pk=past.pk).expired_at is not None

    debtor = _open(workspace, OwnerKind.API_KEY, ApiKeyFactory(workspace=workspace, external_id="key_debtor"))
    grant_create(account_id=debtor.pk, amount=100, kind=GrantKind.SIGNUP, actor=actor, idempotency_key="d-signup")
    account_services.account_overdraft_set(account_id=debtor.pk, limit=2000, actor=staff, reason="trusted")
    debit_create(account_id=debtor.pk, amount=1600, actor=actor, idempotency_key="d-spend")  # spends the lot too

    zero = _open(workspace, OwnerKind.IDENTITY, IdentityFactory(workspace=workspace, external_id="team-zero"))
    refilled = _open(workspace, OwnerKind.WORKSPACE)
    CreditAccount.objects.filter(pk=refilled.pk).update(refill_amount=500, refill_interval=RefillInterval.DAILY)
    account_refill(account_id=refilled.pk, actor=actor)
    assert CreditAccount.objects.get(pk=zero.pk).balance == 0


def _usage(workspace, actor: Actor) -> None:
    """A task of every status, with and without holds, charged, short and never charged."""
    account = customer_signup(workspace_id=workspace.pk, external_id="maker", email="maker@example.com",
                              actor=actor).account
    grant_create(account_id=account.pk, amount=1000, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="u-buy")
    task_create(account_id=account.pk, tier="standard", actor=actor, external_id="pending")
    running = task_create(account_id=account.pk, tier="pro", actor=actor, external_id="running",
                          estimated_duration_seconds="3").task
    task_start(task_id=running.pk, actor=actor)
    done = task_create(account_id=account.pk, tier="pro", actor=actor, external_id="done",
                       estimated_duration_seconds="2").task
    task_complete(task_id=done.pk, duration_seconds="2.5", actor=actor)
    failed = task_create(account_id=account.pk, tier="standard", actor=actor, external_id="failed",
                         estimated_duration_seconds="1").task
    task_fail(task_id=failed.pk, actor=actor, reason="GPU lost")
    short = task_create(account_id=account.pk, tier="pro", actor=actor, external_id="short").task
    task_complete(task_id=short.pk, duration_seconds="600", actor=actor)  # more than the lots hold
    at = clock.now() - timedelta(hours=2)
    UsageTask.objects.create(  # the row a lost completion callback leaves: succeeded, never charged
        workspace=workspace, account=account, tier="standard", status=UsageStatus.SUCCEEDED, external_id="lost",
        created_at=at, completed_at=at, output_duration_seconds=Decimal("4"),
    )


def _requests_tokens_policies(workspace, actor: Actor, staff: Actor, requester: Actor, account_id: int) -> None:
    for n, decide in enumerate((None, "approve", "reject")):
        request = grant_request_create(account_id=account_id, amount=5000, kind=GrantKind.MANUAL, reason="big customer",
                                       actor=requester, idempotency_key=f"request-{n}").request
        if decide == "approve":
            grant_request_approve(request_id=request.pk, actor=staff, reason="ok")
        elif decide == "reject":
            grant_request_reject(request_id=request.pk, actor=staff, reason="too much")
    api_token_create(workspace_id=workspace.pk, name="billing worker", abilities=["read", "debit"], actor=staff)
    revoked = api_token_create(workspace_id=workspace.pk, name="old worker", abilities=["read"], actor=staff).token
    api_token_revoke(token_id=revoked.pk, actor=staff, reason="leaked")
    policy_update(workspace_id=workspace.pk, changes={"initial_credits": 50, "expiry_months": 3}, reason="promo",
                  actor=staff)
    for name in reports_all():
        report_run_store(name=name, actor=staff)


def _runs(actor: Actor) -> None:
    """Runs of every status, with records of every action (key-credits over the edge keys)."""
    keys_table_create()
    phase_store("dual")
    rolled_back = operation_run("key-credits", actor=actor)
    rollbacks.run_rollback(run_id=rolled_back.pk, actor=actor, reason="rehearsal")
    phase_store("dual")  # a rollback puts the phase back to legacy
    operation_run("key-credits", actor=actor)  # succeeded, with changed, skipped and failed records
    for status in (RunStatus.FAILED, RunStatus.PAUSED):
        preview = runs.run_preview(operation="key-credits", params={}, execute=True)
        run = runs.run_create(preview=preview, actor=actor, dry_run=False, options=runs.options_clean())
        if status == RunStatus.FAILED:
            runs.run_cancel(run_id=run.pk, actor=actor, reason="wrong window")
        else:
            runs.run_pause(run_id=run.pk, actor=actor, reason="peak hours")
    # An interrupted rollback, of another operation (key-credits is held by the paused run).
    Run.objects.create(operation="drop-credit-allocations", actor=actor.label, status=RunStatus.ROLLING_BACK,
                       started_at=clock.now(), error="rollback interrupted: ConnectionError('database went away')")
    operation_run("key-credits", actor=actor, dry_run=True)  # a finished plan, ready to execute
    for status in (RunStatus.PLANNED, RunStatus.RUNNING):  # dry runs: they hold no operation
        preview = runs.run_preview(operation="key-credits", params={}, execute=False)
        run = runs.run_create(preview=preview, actor=actor, dry_run=True, options=runs.options_clean())
        if status == RunStatus.RUNNING:
            runs.run_claim(run_id=run.pk, actor=actor)


def every_state() -> States:
    """Build the dataset; the caller's test database holds it until the test ends."""
    staff = _staff()
    actor, staff_actor = Actor.system("states"), Actor.staff(staff[OPERATIONS])
    workspace = WorkspaceFactory(slug="acme", name="Acme")
    _balances(workspace, actor, staff_actor)
    _usage(workspace, actor)
    CustomerFactory(workspace=workspace)  # a product user with no account yet
    account_id = CreditAccount.objects.filter(workspace=workspace).order_by("pk").values_list("pk", flat=True)[0]
    _requests_tokens_policies(workspace, actor, staff_actor, Actor.staff(staff[SUPPORT]), account_id)
    _runs(actor)
    return States(staff=staff, workspace=workspace)


def every_state_teardown() -> None:
    legacy_table_drop(KEYS_TABLE)


def _lot_states() -> set[str]:
    now, found = clock.now(), set()
    for lot in Grant.objects.all():
        if lot.voided_at:
            found.add("voided")
        elif lot.expired_at:
            found.add("expired")
        elif lot.expires_at and lot.expires_at <= now:
            found.add("lapsed")
        else:
            found.add("active" if lot.remaining else "spent")
    return found


def _balance_states() -> set[str]:
    found = set()
    for balance, debt in CreditAccount.objects.values_list("balance", "debt"):
        found.add("debt" if debt else "positive" if balance > 0 else "zero")
    return found


def missing_states() -> dict[str, set]:
    """Each kind of state the dataset does not hold, with the values missing."""
    present = {
        "owner kinds": (set(OwnerKind.values), set(CreditAccount.objects.values_list("owner_kind", flat=True))),
        "entry types": (set(EntryType.values), set(LedgerEntry.objects.values_list("entry_type", flat=True))),
        "grant requests": (set(GrantRequestStatus.values), set(GrantRequest.objects.values_list("status", flat=True))),
        "usage tasks": (set(UsageStatus.values), set(UsageTask.objects.values_list("status", flat=True))),
        "runs": (set(RunStatus.values), set(Run.objects.values_list("status", flat=True))),
        "run records": (set(RecordAction.values), set(RunRecord.objects.values_list("action", flat=True))),
        "lots": (set(LOT_STATES), _lot_states()),
        "balances": (set(BALANCE_STATES), _balance_states()),
        "tokens": ({"active", "revoked"},
                   {"revoked" if t else "active" for t in ApiToken.objects.values_list("revoked_at", flat=True)}),
        "succeeded tasks": ({"charged", "uncharged"}, {"charged" if d else "uncharged" for d in UsageTask.objects.filter(
            status=UsageStatus.SUCCEEDED).values_list("credits_deducted", flat=True)}),
    }
    return {name: wanted - found for name, (wanted, found) in present.items() if wanted - found}
