"""Reads of the migration framework: key credit consistency and run status."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, QuerySet, Subquery

from ledger.models import CreditAccount, OwnerKind

from .models import LegacyKey, RecordAction, Run, RunRecord


def _key_accounts() -> QuerySet:
    return CreditAccount.objects.filter(
        owner_kind=OwnerKind.API_KEY,
        api_key__external_id=OuterRef("pk"),
        api_key__workspace__slug=OuterRef("workspace_id"),
    )


def keys_eligible(*, workspace: str | None = None, using: str = "default") -> QuerySet:
    """Return the legacy keys the key-credits migration moves: live, with a limit."""
    queryset = LegacyKey.objects.using(using).filter(deleted_at_m__isnull=True, remaining_requests__isnull=False)
    if workspace:
        queryset = queryset.filter(workspace_id=workspace)
    return queryset


def keys_with_account(*, workspace: str | None = None) -> QuerySet:
    """Return eligible keys annotated with their account's id and balance (None when the
    key has no account yet), in one query."""
    accounts = _key_accounts()
    return keys_eligible(workspace=workspace).annotate(
        account_id=Subquery(accounts.values("pk")[:1]),
        account_balance=Subquery(accounts.values("balance")[:1]),
    )


@dataclass(frozen=True)
class KeyCreditMismatch:
    key_id: str
    workspace_id: str
    remaining_requests: int
    account_id: int
    balance: int


def key_credit_mismatches(*, workspace: str | None = None, limit: int | None = None) -> list[KeyCreditMismatch]:
    """Return live keys whose ``remaining_requests`` differs from their account's balance
    (keys not migrated yet are not mismatches), by key id, in one query."""
    queryset = (
        keys_with_account(workspace=workspace)
        .filter(account_id__isnull=False)
        .exclude(remaining_requests=Subquery(_key_accounts().values("balance")[:1]))
        .order_by("pk")
        .values_list("pk", "workspace_id", "remaining_requests", "account_id", "account_balance")
    )
    if limit is not None:
        queryset = queryset[:limit]
    return [KeyCreditMismatch(*row) for row in queryset]


def keys_migration_counts(*, workspace: str | None = None) -> dict[str, int]:
    """Return how many eligible keys have an account (migrated) and how many do not."""
    counts = keys_eligible(workspace=workspace).aggregate(
        total=Count("pk"), migrated=Count("pk", filter=Exists(_key_accounts()))
    )
    return {"migrated": counts["migrated"], "pending": counts["total"] - counts["migrated"]}


def runs_failed_rows(*, operation: str) -> int:
    """Return the rows that failed in the latest finished real run of an operation."""
    run = Run.objects.filter(operation=operation, dry_run=False).exclude(status="planned").first()
    if run is None:
        return 0
    return RunRecord.objects.filter(run=run, action=RecordAction.FAILED).count()


def runs_latest(*, operations: list[str]) -> dict[str, Run]:
    """Return the latest real (not dry) run of each named operation that has one, in one query."""
    latest = (
        Run.objects.filter(dry_run=False, operation__in=operations)
        .values("operation").annotate(last=Max("id")).values("last").order_by()
    )
    return {run.operation: run for run in Run.objects.filter(pk__in=Subquery(latest))}
