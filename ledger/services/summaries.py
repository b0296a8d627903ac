"""The daily summary table behind the credits overview, rebuilt set-based from the entries."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.db import connection, transaction
from django.db.models import Case, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from .. import clock
from ..actors import Actor
from ..exceptions import InvalidInput
from ..models import AuditEvent, DailySummary, EntryType, GrantKind, LedgerEntry, Workspace
from ..reports.sql import ACCOUNTS, ENTRIES, WORKSPACES, db_datetime, queryset_sql
from ..totals import totals_aggregates

SUMMARY = DailySummary._meta.db_table

#: The longest range one call rebuilds (a backfill of more runs in several calls).
MAX_DAYS = 3660
#: Days the overview shows and the beat job keeps complete.
SUMMARY_DAYS = 90


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=dt_timezone.utc)


def _flow(entry_type: str, *, migration: bool | None = None, sign: int = 1) -> Coalesce:
    """The sum of one entry type's amounts (times ``sign``), optionally only of entries on
    (or off) lots a data migration opened."""
    condition = Q(entry_type=entry_type, amount__gt=0) if sign > 0 else Q(entry_type=entry_type, amount__lt=0)
    if migration is not None:
        on_migration_lot = Q(lot__kind=GrantKind.MIGRATION)
        condition &= on_migration_lot if migration else ~on_migration_lot | Q(lot__isnull=True)
    return Coalesce(Sum(Case(When(condition, then=F("amount") * sign), default=Value(0))), Value(0))


def _day_movements_sql(day: date) -> tuple[str, list]:
    """Per workspace, what the entries of one UTC day moved: the totals buckets of
    ledger.totals, and the parts of them the summary shows apart (refills, voids, migrations)."""
    queryset = (
        LedgerEntry.objects.filter(created_at__gte=_day_start(day), created_at__lt=_day_start(day + timedelta(days=1)))
        .values(ws=F("account__workspace_id"))
        .annotate(
            **totals_aggregates(),
            refilled=_flow(EntryType.REFILL),
            voided=_flow(EntryType.VOID, migration=False, sign=-1),
            migrated_in=_flow(EntryType.GRANT, migration=True),
            migrated_out=_flow(EntryType.VOID, migration=True, sign=-1),
        )
        .order_by()
    )
    return queryset_sql(queryset)


def _opening_sql(day: date) -> tuple[str, list]:
    """Per workspace, the outstanding balance at the start of ``day``: the previous day's
    summary row when there is one, else the sum of every earlier entry."""
    previous = DailySummary.objects.filter(day=day - timedelta(days=1))
    if previous.count() >= Workspace.objects.count():
        return (
            f"SELECT workspace_id AS ws, outstanding AS opening FROM {SUMMARY} WHERE day = %s",
            [connection.ops.adapt_datefield_value(day - timedelta(days=1))],
        )
    return (
        f"SELECT a.workspace_id AS ws, SUM(e.amount) AS opening FROM {ENTRIES} e "
        f"JOIN {ACCOUNTS} a ON a.id = e.account_id WHERE e.created_at < %s GROUP BY a.workspace_id",
        [db_datetime(_day_start(day))],
    )


def _day_upsert(day: date, refreshed_at: datetime) -> None:
    movements_sql, movements_params = _day_movements_sql(day)
    opening_sql, opening_params = _opening_sql(day)
    sql = f"""
        INSERT INTO {SUMMARY} (day, workspace_id, granted, spent, expired, refilled, voided, migrated_in,
                               migrated_out, outstanding, refreshed_at)
        SELECT %s, w.id, COALESCE(m.total_earned - m.refilled - m.migrated_in, 0), COALESCE(m.total_spent, 0),
               COALESCE(m.total_expired - m.voided - m.migrated_out, 0), COALESCE(m.refilled, 0),
               COALESCE(m.voided, 0), COALESCE(m.migrated_in, 0), COALESCE(m.migrated_out, 0),
               COALESCE(o.opening, 0) + COALESCE(m.balance, 0), %s
          FROM {WORKSPACES} w
          LEFT JOIN ({movements_sql}) m ON m.ws = w.id
          LEFT JOIN ({opening_sql}) o ON o.ws = w.id
         WHERE 1 = 1
        ON CONFLICT (day, workspace_id) DO UPDATE SET
            granted = excluded.granted, spent = excluded.spent, expired = excluded.expired,
            refilled = excluded.refilled, voided = excluded.voided, migrated_in = excluded.migrated_in,
            migrated_out = excluded.migrated_out, outstanding = excluded.outstanding,
            refreshed_at = excluded.refreshed_at"""
    params = [
        connection.ops.adapt_datefield_value(day), db_datetime(refreshed_at),
        *movements_params, *opening_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@transaction.atomic(durable=True)
def daily_summary_refresh(*, start: date, end: date, actor: Actor) -> int:
    """Rebuild the summary rows of every workspace for each UTC day from ``start`` to ``end``
    (inclusive), in day order so each day opens where the previous one closed. Idempotent:
    a second call writes the same figures. Returns the number of days rebuilt."""
    if end < start:
        raise InvalidInput("end", "must be on or after start")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidInput("start", f"a refresh covers at most {MAX_DAYS} days")
    refreshed_at = clock.now()
    for offset in range(days):
        _day_upsert(start + timedelta(days=offset), refreshed_at)
    AuditEvent.objects.create(
        action="summary.refresh", actor=actor.label, actor_user_id=actor.user_id,
        object_type="daily_summary", object_id=f"{start}..{end}",
        details={"start": start.isoformat(), "end": end.isoformat(), "days": days},
    )
    return days


def daily_summary_catch_up(*, days: int, actor: Actor) -> tuple[date, date]:
    """Bring the summary up to now: rebuild from the earliest of the last ``days`` UTC days
    that has no summary yet (a beat that was down, a fresh install), or from yesterday when
    none is missing, to today. Returns the (start, end) rebuilt. The beat job and the
    overview's Refresh both call this."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput("days", f"must be between 1 and {MAX_DAYS}")
    today = clock.now().date()
    first = today - timedelta(days=days - 1)
    present = set(DailySummary.objects.filter(day__gte=first, day__lte=today).values_list("day", flat=True).distinct())
    missing = [first + timedelta(days=n) for n in range(days) if first + timedelta(days=n) not in present]
    start = min([*missing[:1], max(first, today - timedelta(days=1))])
    daily_summary_refresh(start=start, end=today, actor=actor)
    return start, today
