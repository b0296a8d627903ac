"""key-credits and key-credits-sync-back: per-key credit columns to ledger accounts and back.

From the key credits guide: every live key with a limit (``remaining_requests`` not NULL)
gets an account owned by its API key, its remaining credits as one never-expiring migration
grant, and its refill policy. The sync-back is the guide's emergency rollback after the
read switch: account balances written back into ``remaining_requests``.
"""
from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F, Sum

from ledger.exceptions import LedgerError
from ledger.models import CreditAccount, Grant, GrantKind, OwnerKind
from ledger.services.bulk import lots_void
from ledger.services.composition import service_body
from ledger.services.rows import ids_in

from ..exceptions import RollbackRefused
from ..legacy import legacy_table_exists
from ..models import KeyCreditsPhase, LegacyKey, RecordAction
from ..selectors import key_credit_mismatches, keys_eligible, keys_migration_counts
from ..services.key_credits import (
    SOURCE,
    key_account_migrate,
    key_accounts_migrate,
    key_accounts_policy_restore,
    key_batch_prepare,
    key_row_problem,
)
from ..services.key_phase import key_credits_phase, key_credits_phase_set
from .base import CheckResult, Context, Operation, RecordedRows, RowOutcome
from .key_credits_sql import conservation_sums, key_batch_migrate_set_based, set_based_batches
from .registry import register

KEEP = "keep"


def _key_values(key: LegacyKey) -> dict:
    return {
        "workspace_id": key.workspace_id,
        "remaining_requests": key.remaining_requests,
        "refill_day": key.refill_day,
        "refill_amount": key.refill_amount,
        "last_refill_at": key.last_refill_at.isoformat() if key.last_refill_at else None,
    }


def _locked_keys(ids: list[str]) -> dict[str, LegacyKey]:
    """Re-read a batch's keys on the primary, locked in id order: the replica only says
    which keys to visit; the values moved are the primary's, under lock."""
    queryset = LegacyKey.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {key.pk: key for key in queryset}


def _refusal(key, pk: str) -> RowOutcome | None:
    """The outcome of a row key-credits does not migrate (gone, deleted, unlimited: skipped;
    bad data: failed), or None for a valid key. ``key`` is a LegacyKey or a KeyRow."""
    if key is None:
        return RowOutcome(pk, RecordAction.SKIPPED, message="gone from the primary", totals={"skipped_gone": 1})
    if key.deleted_at_m is not None:
        return RowOutcome(pk, RecordAction.SKIPPED, message="deleted key", totals={"skipped_deleted": 1})
    if key.remaining_requests is None:
        return RowOutcome(pk, RecordAction.SKIPPED, message="unlimited (remaining_requests is NULL)",
                          totals={"skipped_unlimited": 1})
    problem = key_row_problem(key)
    if problem:
        return RowOutcome(pk, RecordAction.FAILED, old=_key_values(key), message=problem)
    return None


def _keys_table_check(result: CheckResult, using: str) -> bool:
    if not legacy_table_exists("keys", using=using):
        result.problems.append("the legacy table 'keys' does not exist (python manage.py seed_legacy creates a demo one)")
        return False
    return True


def _phase_to_legacy(ctx: Context) -> bool:
    """Hand the keys back to the keys table before their accounts are emptied: in the dual
    or credits phase, a key whose account holds 0 would refuse every debit. Audited; in the
    rollback batch's transaction. Returns whether the phase moved."""
    if key_credits_phase() == KeyCreditsPhase.LEGACY:
        return False
    change = service_body(key_credits_phase_set)(
        phase=KeyCreditsPhase.LEGACY, actor=ctx.actor, reason=f"rollback of {ctx.run.operation} run #{ctx.run.pk}"
    )
    return change.changed


class _KeysOperation(Operation):
    """Shared by both operations: the source is the legacy keys table. A batch's rows are
    key ids: the values are read again on the primary, under lock (``_locked_keys``)."""

    def scope(self, *, params, using):
        queryset = LegacyKey.objects.using(using).all()
        if params.get("workspace"):
            queryset = queryset.filter(workspace_id=params["workspace"])
        return queryset

    def workspace_known(self, *, slug, using):
        # --workspace is the legacy keys' workspace id (the guide's ws_...); without the
        # table the check says what is missing.
        if not legacy_table_exists("keys", using=using):
            return True
        return LegacyKey.objects.using(using).filter(workspace_id=slug).exists()

    def batch_read(self, *, params, after, limit, using):
        queryset = self.scope(params=params, using=using)
        if after is not None:
            queryset = queryset.filter(pk__gt=after)
        return list(queryset.order_by("pk").values_list("pk", flat=True)[:limit])

    def row_cursor(self, row):
        return row


@register
class KeyCreditsOperation(_KeysOperation):
    """Move per-key credits (remaining, refill day/amount, last refill) to ledger accounts."""

    name = "key-credits"
    description = "per-key credits (keys.remaining_requests, refills) to ledger accounts owned by API keys"
    conserves = (
        "credits: per workspace, the remaining_requests of the keys a batch migrates equal the "
        "credits of the migration grants it creates"
    )
    settle_modes = {
        KEEP: "void only the unspent part of each migration grant; credits spent since stay spent "
              "(in the dual phase the keys table already shows them spent)",
    }

    def check(self, *, params, execute, force):
        result = CheckResult()
        if not _keys_table_check(result, "default"):
            return result
        phase = key_credits_phase()
        result.notes = {"phase": phase, **self._counts(params)}
        if execute and phase != "dual":
            result.forceable.append(
                f"the key credits phase is {phase!r}: deploy the dual-write phase and set it "
                "(manage.py key_credits_phase dual) before migrating (or pass --force, recorded on the run)"
            )
        return result

    def _counts(self, params) -> dict:
        scope = self.scope(params=params, using="default")
        return {
            "keys": scope.count(),
            "eligible": scope.filter(deleted_at_m__isnull=True, remaining_requests__isnull=False).count(),
            "deleted": scope.filter(deleted_at_m__isnull=False).count(),
            "unlimited": scope.filter(deleted_at_m__isnull=True, remaining_requests__isnull=True).count(),
        }

    def fingerprint(self, *, params, using):
        scope = self.scope(params=params, using=using)
        eligible = scope.filter(deleted_at_m__isnull=True, remaining_requests__isnull=False)
        return {
            "rows": scope.count(),
            "eligible": eligible.count(),
            "remaining": eligible.aggregate(total=Sum("remaining_requests"))["total"] or 0,
            "migrated": keys_migration_counts(workspace=params.get("workspace"))["migrated"],
            "migration_grants": Grant.objects.filter(kind=GrantKind.MIGRATION, source=SOURCE, voided_at__isnull=True).count(),
        }

    def batch_apply(self, *, rows, ctx):
        if not ctx.dry_run and set_based_batches():
            done = key_batch_migrate_set_based(ids=rows, ctx=ctx, refusal=_refusal)
            if done is not None:
                return done
        locked = _locked_keys(rows)
        valid = [
            key for key in locked.values()
            if key.deleted_at_m is None and key.remaining_requests is not None and not key_row_problem(key)
        ]
        batch = key_batch_prepare(keys=valid) if valid else None
        # Keys whose API key has no account yet (nearly all, on a first run) are migrated
        # set-based; the rest (re-runs after a rollback, partial states) row by row.
        bulk = key_accounts_migrate(keys=valid, actor=ctx.actor, batch=batch) if valid else {}
        return [self._row(locked.get(pk), pk, ctx, batch, bulk.get(pk)) for pk in rows]

    def _row(self, key: LegacyKey | None, pk: str, ctx: Context, batch, done=None) -> RowOutcome:
        refused = _refusal(key, pk)
        if refused is not None:
            return refused
        old = _key_values(key)
        try:
            if done is None:
                with transaction.atomic():
                    done = key_account_migrate(key=key, actor=ctx.actor, batch=batch)
        except LedgerError as error:
            return RowOutcome(pk, RecordAction.FAILED, old=old, message=error.message)
        if not done.changed:
            return RowOutcome(pk, RecordAction.SKIPPED, message="already migrated", totals={"skipped_migrated": 1})
        totals = {
            "credits": done.credits,
            "grants": int(bool(done.credits)),
            "accounts_opened": int(done.account_opened),
            "zero_balance": int(key.remaining_requests == 0),
            "refill_policies": int(done.policy_set),
        }
        old |= {"account_opened": done.account_opened, "account_policy": done.old_policy}
        new = {"account_id": done.account_id, "grant_id": done.grant_id if done.credits else None, "credits": done.credits}
        return RowOutcome(pk, RecordAction.CHANGED, old=old, new=new, totals=totals)

    def batch_conserve(self, *, rows, outcomes, ctx):
        moved, account_ids = [], []
        for o in outcomes:
            if o.action != RecordAction.CHANGED or not o.totals.get("credits"):
                continue
            if isinstance(o, RecordedRows):  # the keys given a lot, and their accounts
                moved += o.keys
                account_ids += o.details["account_ids"]
            else:
                moved.append(o.key)
                account_ids.append(o.new["account_id"])
        if not moved:
            return []
        if connection.vendor == "postgresql":
            legacy, granted = conservation_sums(keys=moved, account_ids=account_ids)
        else:
            legacy = dict(
                LegacyKey.objects.filter(pk__in=moved).values_list("workspace_id")
                .annotate(total=Sum("remaining_requests"))
            )
            # Through the keys' accounts (indexed), not a scan of every grant by source_id.
            granted = dict(
                Grant.objects.filter(account_id__in=account_ids, kind=GrantKind.MIGRATION,
                                     source=SOURCE, source_id__in=moved, voided_at__isnull=True)
                .values_list("account__workspace__slug").annotate(total=Sum("amount"))
            )
        return [
            f"workspace {ws}: keys hold {legacy.get(ws, 0)} credits but {granted.get(ws, 0)} were granted"
            for ws in sorted(set(legacy) | set(granted)) if legacy.get(ws, 0) != granted.get(ws, 0)
        ]

    def verify(self, *, run):
        workspace = run.params.get("workspace")
        problems = []
        pending = keys_migration_counts(workspace=workspace)["pending"]
        if pending:
            problems.append(f"{pending} eligible keys have no account yet")
        for mismatch in key_credit_mismatches(workspace=workspace, limit=20):
            problems.append(
                f"key {mismatch.key_id}: remaining_requests {mismatch.remaining_requests} "
                f"but account #{mismatch.account_id} holds {mismatch.balance}"
            )
        grant_ids = [r.new["grant_id"] for r in self._changed(run) if r.new.get("grant_id")]
        live = Grant.objects.filter(pk__in=grant_ids, voided_at__isnull=True).count()
        if run.status != "rolled_back" and live != len(grant_ids):
            problems.append(f"{len(grant_ids) - live} of the run's {len(grant_ids)} migration grants are missing or voided")
        if run.failed:
            problems.append(f"{run.failed} rows failed; see the run's failed records")
        return problems

    @staticmethod
    def _changed(run):
        return run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True).order_by("pk")

    def rollback_blockers(self, *, run, settle):
        blockers = []
        if key_credits_phase() == KeyCreditsPhase.CREDITS:
            # The rollback hands the keys back to the keys table (phase legacy): it must
            # hold what the accounts hold, or credits moved since the read switch are lost.
            blockers += [
                f"key {m.key_id}: remaining_requests {m.remaining_requests} but account #{m.account_id} holds "
                f"{m.balance} (phase credits: run key-credits-sync-back first)"
                for m in key_credit_mismatches(workspace=run.params.get("workspace"), limit=50)
            ]
        if settle == KEEP:
            return blockers
        grant_ids = [pk for pk in self._changed(run).values_list("new__grant_id", flat=True).iterator() if pk]
        spent = (
            Grant.objects.filter(pk__in=ids_in(grant_ids), remaining__lt=F("amount"), voided_at__isnull=True)
            .order_by("account_id").values_list("account_id", "source_id", "amount", "remaining")
        )
        return blockers + [
            f"account #{account} (key {key}): {amount - remaining} of {amount} migrated credits spent since"
            for account, key, amount, remaining in spent
        ]

    def rollback_batch(self, *, records, ctx):
        """Set-based: per batch, the phase back to legacy (first batch only, audited), the
        accounts emptied (ledger.services.bulk.lots_void) and their refill policies
        restored, in one transaction; spent migrated credits refuse the batch unless
        ``--settle keep``.

        Emptied, not only the run's migration lots, for a run executed in the dual phase
        (not forced past the phase check): lots the accounts got since (refills, grants in
        the dual phase) were written into the keys as well, or copied there by the
        sync-back the credits phase requires, so the keys table holds them; left on the
        account, a re-run would count them twice."""
        grants = {r.new["grant_id"]: r.row_key for r in records if r.new.get("grant_id")}
        accounts = [r.new["account_id"] for r in records]
        with transaction.atomic():
            done = {"phase_to_legacy": int(_phase_to_legacy(ctx))}
            if ctx.settle != KEEP:
                spent = sorted(grants[pk] for pk in Grant.objects.filter(
                    pk__in=ids_in(list(grants)), voided_at__isnull=True, remaining__lt=F("amount"),
                ).values_list("pk", flat=True))
                if spent:
                    raise RollbackRefused(f"keys {', '.join(spent[:20])}: migrated credits were spent since the check",
                                          spent)
            since = Grant.objects.filter(account_id__in=ids_in(accounts), voided_at__isnull=True,
                                         expired_at__isnull=True, remaining__gt=0).values_list("pk", flat=True)
            since = [] if ctx.run.forced else since  # forced past the phase check: its own lots only
            _, done["voided"] = lots_void(
                idempotency_keys={pk: f"{SOURCE}-rollback:{pk}" for pk in {*grants, *since}}, actor=ctx.actor,
                reason=f"Rollback of migration run #{ctx.run.pk}",
            )
            key_accounts_policy_restore(policies={r.new["account_id"]: r.old.get("account_policy") for r in records})
        return done

    def status(self, *, params):
        return keys_migration_counts(workspace=params.get("workspace"))


@register
class KeyCreditsSyncBackOperation(_KeysOperation):
    """Write account balances back into keys.remaining_requests (emergency rollback)."""

    name = "key-credits-sync-back"
    description = "account balances back into keys.remaining_requests (the guide's emergency rollback)"
    conserves = "credits: every key a batch changes ends with remaining_requests equal to its account balance"
    settle_modes = {KEEP: "leave keys whose remaining_requests changed since the sync-back as they are"}

    def check(self, *, params, execute, force):
        result = CheckResult()
        if _keys_table_check(result, "default"):
            result.notes = {
                "phase": key_credits_phase(),
                "mismatches": len(key_credit_mismatches(workspace=params.get("workspace"))),
            }
        return result

    def fingerprint(self, *, params, using):
        return {
            "rows": self.count(params=params, using=using),
            "mismatches": [m.key_id for m in key_credit_mismatches(workspace=params.get("workspace"))][:1000],
        }

    def batch_apply(self, *, rows, ctx):
        locked = _locked_keys(rows)
        accounts = {
            (ext, slug): (pk, balance)
            for pk, ext, slug, balance in CreditAccount.objects.select_for_update()
            .filter(owner_kind=OwnerKind.API_KEY, api_key__external_id__in=list(locked))
            .order_by("pk").values_list("pk", "api_key__external_id", "api_key__workspace__slug", "balance")
        }
        outcomes = []
        for pk in rows:
            key = locked.get(pk)
            found = accounts.get((key.pk, key.workspace_id)) if key else None
            if key is None or key.deleted_at_m is not None or found is None:
                outcomes.append(RowOutcome(pk, RecordAction.SKIPPED, message="deleted, gone or not migrated"))
                continue
            account_id, balance = found
            if balance < 0:
                outcomes.append(RowOutcome(pk, RecordAction.FAILED, message=f"account #{account_id} is in debt ({balance})"))
            elif balance == key.remaining_requests:
                outcomes.append(RowOutcome(pk, RecordAction.SKIPPED, message="in sync"))
            else:
                LegacyKey.objects.filter(pk=key.pk).update(remaining_requests=balance)
                outcomes.append(RowOutcome(
                    pk, RecordAction.CHANGED, old={"remaining_requests": key.remaining_requests},
                    new={"remaining_requests": balance, "account_id": account_id},
                    totals={"credits_before": key.remaining_requests or 0, "credits_after": balance},
                ))
        return outcomes

    def batch_conserve(self, *, rows, outcomes, ctx):
        changed = {o.key: o.new["account_id"] for o in outcomes if o.action == RecordAction.CHANGED}
        if not changed:
            return []
        remaining = dict(LegacyKey.objects.filter(pk__in=changed).values_list("pk", "remaining_requests"))
        balances = dict(CreditAccount.objects.filter(pk__in=changed.values()).values_list("pk", "balance"))
        return [
            f"key {key}: remaining_requests {remaining.get(key)} but account #{account} holds {balances.get(account)}"
            for key, account in changed.items() if remaining.get(key) != balances.get(account)
        ]

    def verify(self, *, run):
        return [
            f"key {m.key_id}: remaining_requests {m.remaining_requests} but account #{m.account_id} holds {m.balance}"
            for m in key_credit_mismatches(workspace=run.params.get("workspace"), limit=20)
        ]

    def rollback_blockers(self, *, run, settle):
        if settle == KEEP:
            return []
        records = run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True)
        expected = {r.row_key: r.new["remaining_requests"] for r in records.iterator()}
        current = dict(LegacyKey.objects.filter(pk__in=expected).values_list("pk", "remaining_requests"))
        return [
            f"key {key}: remaining_requests is {current.get(key)} now, the sync-back set {value}"
            for key, value in sorted(expected.items()) if current.get(key) != value
        ]

    @transaction.atomic
    def rollback_record(self, *, record, ctx):
        key = LegacyKey.objects.select_for_update().filter(pk=record.row_key).first()
        now, wanted = (key.remaining_requests if key else None), record.new["remaining_requests"]
        if now == record.old["remaining_requests"]:
            return {"restored": 0}
        if now != wanted:
            if ctx.settle == KEEP:
                return {"kept": 1}
            raise RollbackRefused(f"key {record.row_key} changed since the sync-back", [record.row_key])
        LegacyKey.objects.filter(pk=record.row_key).update(remaining_requests=record.old["remaining_requests"])
        return {"restored": 1}

    def status(self, *, params):
        workspace = params.get("workspace")
        migrated = keys_migration_counts(workspace=workspace)["migrated"]
        pending = len(key_credit_mismatches(workspace=workspace))
        return {"migrated": migrated - pending, "pending": pending}


__all__ = ["KeyCreditsOperation", "KeyCreditsSyncBackOperation", "keys_eligible"]
