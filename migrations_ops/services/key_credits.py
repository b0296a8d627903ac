"""Per-key credits across the legacy ``keys`` table and the ledger, by phase.

The stored phase (``key_phase.key_credits_phase``) follows the key credits guide:

- ``legacy``: key credits are read and written on the keys table only;
- ``dual``: every debit or refill writes the keys table and the key's account (when it has
  been migrated) in one transaction; reads take the keys table first, the account as
  fallback;
- ``credits``: the ledger account only.

The migration itself (``key_account_migrate``) runs inside a batch transaction of the
``key-credits`` operation; the debit/refill services are durable top-level services.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ledger import clock
from ledger.actors import Actor
from ledger.amounts import MAX_AMOUNT, amount_parse
from ledger.exceptions import IdempotencyConflict, InsufficientCredits, InvalidInput, NotFound
from ledger.models import ApiKey, CreditAccount, Grant, GrantKind, OwnerKind, RefillInterval, Workspace
from ledger.services.accounts import account_open
from ledger.services.bulk import AccountOpening, accounts_open_granted, values_insert, values_update
from ledger.services.debits import debit_apply
from ledger.services.grants import grant_apply
from ledger.services.postings import (
    Posting,
    account_lock,
    entry_replay,
    request_hash,
)
from ledger.services.refills import refill_apply
from ledger.services.rows import ids_in

from ..models import KeyCreditsDebit, KeyCreditsPhase, LegacyKey
from .key_phase import key_credits_phase

#: ``source`` of migration grants; their ``source_id`` is the legacy key id.
SOURCE = "key-credits"
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


# -- policy values ------------------------------------------------------------------------


def key_policy(key: LegacyKey) -> dict:
    """Return the refill policy of a legacy key in the account's terms (JSON values).

    A refill amount with no refill day refills daily; with a day, monthly on that day.
    """
    if key.refill_amount is None:
        interval, day = RefillInterval.NONE, None
    elif key.refill_day is None:
        interval, day = RefillInterval.DAILY, None
    else:
        interval, day = RefillInterval.MONTHLY, key.refill_day
    return {
        "refill_amount": key.refill_amount,
        "refill_interval": str(interval),
        "refill_day": day,
        "last_refill_at": key.last_refill_at.isoformat() if key.last_refill_at else None,
    }


def account_policy(account: CreditAccount) -> dict:
    """Return an account's refill policy as JSON values (comparable with key_policy)."""
    return {
        "refill_amount": account.refill_amount,
        "refill_interval": account.refill_interval,
        "refill_day": account.refill_day,
        "last_refill_at": account.last_refill_at.isoformat() if account.last_refill_at else None,
    }


def _policy_write(account: CreditAccount, policy: dict) -> None:
    account.refill_amount = policy["refill_amount"]
    account.refill_interval = policy["refill_interval"]
    account.refill_day = policy["refill_day"]
    last = policy["last_refill_at"]
    account.last_refill_at = datetime.fromisoformat(last) if last else None
    account.save(update_fields=["refill_amount", "refill_interval", "refill_day", "last_refill_at", "updated_at"])


def key_row_problem(key: LegacyKey) -> str | None:
    """Return why a legacy key cannot be migrated (bad data), or None."""
    if not _SLUG.match(key.workspace_id or ""):
        return f"workspace_id {key.workspace_id!r} is not a valid workspace slug (letters, digits, - and _, 1-64)"
    if key.remaining_requests < 0:
        return f"remaining_requests is negative ({key.remaining_requests})"
    if key.remaining_requests > MAX_AMOUNT:
        return f"remaining_requests {key.remaining_requests} is above the ledger maximum {MAX_AMOUNT}"
    if key.refill_day is not None and not 1 <= key.refill_day <= 31:
        return f"refill_day {key.refill_day} is not a day of the month (1-31)"
    if key.refill_amount is not None and not 0 <= key.refill_amount <= MAX_AMOUNT:
        return f"refill_amount {key.refill_amount} is out of range (0-{MAX_AMOUNT})"
    return None


# -- the migration step ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyMigration:
    """What migrating one key did: ``changed`` False when it was already migrated."""

    changed: bool
    account_id: int
    grant_id: int | None
    credits: int
    account_opened: bool
    policy_set: bool
    old_policy: dict | None


@dataclass(frozen=True)
class KeyBatch:
    """The ledger rows a batch of keys already has, loaded (and created) in a few queries."""

    workspace_ids: dict[str, int]
    api_key_ids: dict[tuple[int, str], int]
    accounts: dict[int, CreditAccount]
    live_grants: dict[str, Grant]
    earlier: dict[str, int]

    def api_key_id(self, key: LegacyKey) -> int:
        """Return the id of the ApiKey the legacy key became."""
        return self.api_key_ids[(self.workspace_ids[key.workspace_id], key.id)]


def key_batch_prepare(*, keys: list[LegacyKey]) -> KeyBatch:
    """Make sure every key's workspace and ApiKey exist, and lock the accounts the keys
    already have (in id order), in the caller's transaction. ``keys`` must be valid."""
    slugs = sorted({key.workspace_id for key in keys})
    # Read first: after a run's first batches every workspace exists, and an INSERT of
    # hundreds of conflicting rows per batch costs more than one indexed read.
    workspace_ids = dict(Workspace.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    missing = [slug for slug in slugs if slug not in workspace_ids]
    if missing:
        Workspace.objects.bulk_create([Workspace(slug=slug, name=slug) for slug in missing], ignore_conflicts=True)
        workspace_ids |= dict(Workspace.objects.filter(slug__in=missing).values_list("slug", "pk"))
    # On PostgreSQL the INSERT says which API keys it created and their ids; only API keys
    # that existed already (a re-run) are read back. Elsewhere all of them are.
    inserted = values_insert(
        ApiKey, [{"workspace_id": workspace_ids[key.workspace_id], "external_id": key.id} for key in keys],
        ignore_conflicts=True, returning=("id", "workspace_id", "external_id"),
    )
    api_key_ids = {(workspace_id, external_id): pk for pk, workspace_id, external_id in inserted or []}
    existing = [key for key in keys if (workspace_ids[key.workspace_id], key.id) not in api_key_ids]
    if existing:
        api_key_ids |= _api_key_ids(existing, workspace_ids)
    # ApiKeys this transaction has just inserted cannot have accounts (a first run): the
    # lookup is needed only for the ones that existed before.
    accounts = {} if not existing else {
        a.api_key_id: a
        for a in CreditAccount.objects.select_for_update().filter(
            owner_kind=OwnerKind.API_KEY, api_key_id__in=[api_key_ids[(workspace_ids[k.workspace_id], k.id)] for k in existing]
        ).order_by("pk")
    }
    live, earlier = {}, {}
    # Only the keys' own accounts matter, and on a first run there are none to read.
    grants = Grant.objects.filter(
        account_id__in=[a.pk for a in accounts.values()], kind=GrantKind.MIGRATION, source=SOURCE,
        source_id__in=[key.id for key in existing],
    ).order_by("pk") if accounts else []
    for grant in grants:
        earlier[grant.source_id] = earlier.get(grant.source_id, 0) + 1
        if grant.voided_at is None:
            live[grant.source_id] = grant
    return KeyBatch(workspace_ids=workspace_ids, api_key_ids=api_key_ids, accounts=accounts, live_grants=live,
                    earlier=earlier)


def _api_key_ids(keys: list[LegacyKey], workspace_ids: dict[str, int]) -> dict[tuple[int, str], int]:
    """Read the ids of the keys' ApiKeys through the (workspace, external_id) unique index:
    one ``workspace = w AND external_id IN (...)`` term per workspace."""
    by_workspace: dict[int, list[str]] = {}
    for key in keys:
        by_workspace.setdefault(workspace_ids[key.workspace_id], []).append(key.id)
    wanted = Q()
    for workspace_id, external_ids in by_workspace.items():
        wanted |= Q(workspace_id=workspace_id, external_id__in=external_ids)
    return {
        (workspace_id, external_id): pk
        for pk, workspace_id, external_id in ApiKey.objects.filter(wanted).values_list("pk", "workspace_id", "external_id")
    }


def key_account_migrate(*, key: LegacyKey, actor: Actor, batch: KeyBatch | None = None) -> KeyMigration:
    """Give a valid, live, limited key its account, migration grant and refill policy, in
    the caller's transaction; a key already migrated changes nothing.

    The grant never expires and carries an idempotency key derived from the key id (and
    the number of earlier, rolled back, migrations of it), so a replayed batch cannot
    grant twice. ``batch`` (from key_batch_prepare) saves queries over many keys.
    """
    batch = batch or key_batch_prepare(keys=[key])
    api_key_id = batch.api_key_id(key)
    account = batch.accounts.get(api_key_id)
    opened = account is None
    if opened:
        account = account_open(workspace_id=batch.workspace_ids[key.workspace_id], owner_kind=OwnerKind.API_KEY,
                               owner_id=api_key_id)
    old_policy = None if opened else account_policy(account)
    grant = batch.live_grants.get(key.id)
    grant_id, credits = (grant.pk if grant else None), 0
    if grant is None and key.remaining_requests > 0:
        posting = Posting(
            actor=actor, description=f"Migrated from legacy key {key.id}", source=SOURCE, source_id=key.id,
            idempotency_key=f"{SOURCE}:{key.id}:{batch.earlier.get(key.id, 0)}",
            fingerprint=request_hash(op="key-credits", key=key.id, amount=key.remaining_requests),
        )
        lot, _ = grant_apply(
            account=account, amount=key.remaining_requests, kind=GrantKind.MIGRATION, posting=posting,
            expires_at=None, reason=f"Key credits migration of {key.id}",
        )
        grant_id, credits = lot.pk, lot.amount
    policy = key_policy(key)
    policy_set = account_policy(account) != policy
    if policy_set:
        _policy_write(account, policy)
    return KeyMigration(
        changed=opened or bool(credits) or policy_set, account_id=account.pk, grant_id=grant_id,
        credits=credits, account_opened=opened, policy_set=policy_set, old_policy=old_policy,
    )


def _policy_fields(policy: dict) -> dict:
    last = policy["last_refill_at"]
    return {
        "refill_amount": policy["refill_amount"], "refill_interval": policy["refill_interval"],
        "refill_day": policy["refill_day"], "last_refill_at": datetime.fromisoformat(last) if last else None,
    }


_NO_POLICY = {"refill_amount": None, "refill_interval": str(RefillInterval.NONE), "refill_day": None, "last_refill_at": None}


def key_accounts_migrate(*, keys: list[LegacyKey], actor: Actor, batch: KeyBatch) -> dict[str, KeyMigration]:
    """Migrate, in a fixed number of statements, the keys of a batch whose API key has no
    account yet (the others are left to key_account_migrate); return their outcomes by key id.

    Each gets what key_account_migrate would give it (an account with its refill policy
    and, for a positive remainder, a never-expiring migration grant with the same
    idempotency key and request hash), through ledger.services.bulk. ``keys`` must be
    valid, live and limited; ``batch`` from key_batch_prepare over them (same transaction).
    """
    fresh = [key for key in keys if batch.api_key_id(key) not in batch.accounts]
    openings = [
        AccountOpening(
            workspace_id=batch.workspace_ids[key.workspace_id], owner_kind=OwnerKind.API_KEY,
            owner_id=batch.api_key_id(key),
            amount=key.remaining_requests, kind=GrantKind.MIGRATION, reason=f"Key credits migration of {key.id}",
            posting=Posting(
                actor=actor, description=f"Migrated from legacy key {key.id}", source=SOURCE, source_id=key.id,
                idempotency_key=f"{SOURCE}:{key.id}:{batch.earlier.get(key.id, 0)}",
                fingerprint=request_hash(op="key-credits", key=key.id, amount=key.remaining_requests),
            ),
            account_fields=_policy_fields(key_policy(key)),
        )
        for key in fresh
    ]
    done = {}
    for key, opened in zip(fresh, accounts_open_granted(openings=openings)):
        credits = opened.amount if opened.lot_id else 0
        policy_set = key_policy(key) != _NO_POLICY
        done[key.id] = KeyMigration(
            changed=True, account_id=opened.account_id, grant_id=opened.lot_id,
            credits=credits, account_opened=True, policy_set=policy_set, old_policy=None,
        )
    return done


def key_accounts_policy_restore(*, policies: dict[int, dict | None]) -> None:
    """Put back the refill policies accounts had before a migration (account id -> policy;
    None: no refill, for accounts the migration opened), in the caller's transaction
    (whose rollback batch has locked the accounts): one read, and one UPDATE of the
    accounts whose policy differs (most keys have no refill policy to undo)."""
    wanted = {account_id: _policy_fields(policy or _NO_POLICY) for account_id, policy in policies.items()}
    names = ("refill_amount", "refill_interval", "refill_day", "last_refill_at")
    current = CreditAccount.objects.filter(pk__in=ids_in(list(wanted))).values_list("pk", *names)
    values_update(CreditAccount, [
        {"id": pk, **wanted[pk]} for pk, *values in current if dict(zip(names, values)) != wanted[pk]
    ], names)


# -- live reads and writes by phase ---------------------------------------------------------


@dataclass(frozen=True)
class KeyCredits:
    """A key's credits as the product sees them, and where they were read from."""

    key_id: str
    remaining: int | None
    source: str


def _key_account(key_id: str, workspace_slug: str | None = None) -> CreditAccount | None:
    queryset = CreditAccount.objects.filter(owner_kind=OwnerKind.API_KEY, api_key__external_id=key_id)
    if workspace_slug is not None:
        queryset = queryset.filter(api_key__workspace__slug=workspace_slug)
    return queryset.first()


def key_credits_get(*, key_id: str) -> KeyCredits:
    """Return a key's remaining credits: keys table (legacy), keys table then account
    (dual), account (credits). ``remaining`` None means unlimited."""
    phase = key_credits_phase()
    if phase != "credits":
        key = LegacyKey.objects.filter(pk=key_id, deleted_at_m__isnull=True).first()
        if key is not None and (key.remaining_requests is not None or phase == "legacy"):
            return KeyCredits(key_id=key_id, remaining=key.remaining_requests, source="keys")
        if key is None and phase == "legacy":
            raise NotFound(f"key {key_id!r} does not exist", field="key")
    account = _key_account(key_id)
    if account is None:
        raise NotFound(f"key {key_id!r} has no credit account", field="key")
    return KeyCredits(key_id=key_id, remaining=account.balance, source="ledger")


def _legacy_locked(key_id: str) -> LegacyKey:
    key = LegacyKey.objects.select_for_update().filter(pk=key_id, deleted_at_m__isnull=True).first()
    if key is None:
        raise NotFound(f"key {key_id!r} does not exist", field="key")
    return key


def _replayed(*, key_id: str, idempotency_key: str | None, fingerprint: str) -> bool:
    """Whether this idempotency key already debited the key (the same request); the same
    key with another request raises IdempotencyConflict."""
    if not idempotency_key:
        return False
    earlier = KeyCreditsDebit.objects.filter(key_id=key_id, idempotency_key=idempotency_key).values_list(
        "request_hash", flat=True).first()
    if earlier is not None and earlier != fingerprint:
        raise IdempotencyConflict(idempotency_key)
    return earlier is not None


@transaction.atomic(durable=True)
def key_credits_debit(*, key_id: str, amount: object, actor: Actor, idempotency_key: str | None = None) -> KeyCredits:
    """Spend credits of a key in the places the phase says, all or nothing, exactly once
    per idempotency key whichever places that is.

    legacy: the keys table. dual: the keys table decides whether there is enough; a
    migrated key's account is debited and the ledger's write hook (key_mirror) writes the
    account's new balance into the key in the same transaction; a key not migrated yet,
    the keys table only. credits: the account.
    """
    credits = amount_parse(amount)
    phase = key_credits_phase()
    key = _legacy_locked(key_id) if phase != KeyCreditsPhase.CREDITS else None
    account = _key_account(key_id, key.workspace_id if key else None) if phase != KeyCreditsPhase.LEGACY else None
    if phase == KeyCreditsPhase.CREDITS and account is None:
        raise NotFound(f"key {key_id!r} has no credit account", field="key")
    if account is not None:
        account = account_lock(account_id=account.pk)
    fingerprint = request_hash(op="key-debit", key=key_id, amount=credits)
    if _replayed(key_id=key_id, idempotency_key=idempotency_key, fingerprint=fingerprint):
        return key_credits_get(key_id=key_id)
    limit = key.remaining_requests if key is not None else None
    if limit is not None and limit < credits:
        raise InsufficientCredits(account_id=account.pk if account else 0, balance=limit, available=limit, amount=credits)
    if account is not None:
        posting = Posting(actor=actor, description=f"Key {key_id} usage", source="key", source_id=key_id,
                          idempotency_key=idempotency_key, fingerprint=fingerprint)
        debit_apply(account=account, amount=credits, posting=posting)
    elif limit is not None:
        LegacyKey.objects.filter(pk=key_id).update(remaining_requests=limit - credits)
    if idempotency_key:
        KeyCreditsDebit.objects.create(key_id=key_id, idempotency_key=idempotency_key, request_hash=fingerprint)
    return key_credits_get(key_id=key_id)


@transaction.atomic(durable=True)
def key_credits_refill(*, key_id: str, actor: Actor, at: datetime | None = None) -> KeyCredits:
    """Reset a key's remaining credits to its refill amount (a reset, not a top-up), once
    per key and day, in the places the phase says; ``last_refill_at`` moves with it. A
    migrated key's account is refilled by the ledger (refill_apply), whose write hook
    writes the key too in the dual phase."""
    at = at or clock.now()
    phase = key_credits_phase()
    key = _legacy_locked(key_id) if phase != KeyCreditsPhase.CREDITS else None
    account = _key_account(key_id, key.workspace_id if key else None) if phase != KeyCreditsPhase.LEGACY else None
    if account is not None:
        account = account_lock(account_id=account.pk)
    amount = key.refill_amount if key is not None else (account.refill_amount if account else None)
    if amount is None:
        raise InvalidInput("refill_amount", f"key {key_id!r} has no refill policy")
    if account is None:
        LegacyKey.objects.filter(pk=key_id).update(remaining_requests=amount, last_refill_at=at)
        return key_credits_get(key_id=key_id)
    refill_key = f"key-refill:{key_id}:{at.date().isoformat()}"
    fingerprint = request_hash(op="key-refill", key=key_id, day=at.date())
    if entry_replay(account=account, key=refill_key, fingerprint=fingerprint) is None:
        posting = Posting(actor=actor, description=f"Refill of key {key_id}", source="key", source_id=key_id,
                          idempotency_key=refill_key, fingerprint=fingerprint)
        refill_apply(account=account, target=amount, posting=posting, at=at)
    return key_credits_get(key_id=key_id)
