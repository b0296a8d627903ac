"""The expiry report: product users who lost credits to expiry or are about to, and how many
credits expire in the next 7 and 30 days."""
from __future__ import annotations

from datetime import timedelta

from .. import clock
from ..models import Customer, EntryType
from . import report_register
from .base import Report, ReportOutput
from .sql import ACCOUNTS, ENTRIES, LOTS, WORKSPACES, as_datetime, db_datetime, limit_clause, rows_fetch

CUSTOMERS = Customer._meta.db_table


@report_register
class ExpiryReport(Report):
    name = "expiry"
    title = "Credits expiry"
    columns = [
        "user", "email", "workspace", "account", "current_balance", "expired_amount",
        "first_expiry", "expiring_7d", "expiring_30d", "next_expiry",
    ]
    description = "Users affected by expiry, and credits expiring in the next 7 and 30 days."

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        """List product users with expired credits or credits expiring within 30 days,
        most expired first; the summary totals every account's credits expiring soon."""
        now = clock.now()
        bounds = [db_datetime(now + timedelta(days=7)), db_datetime(now), db_datetime(now + timedelta(days=30))]
        workspace_filter = " AND a.workspace_id = %s" if workspace_id is not None else ""
        sql = f"""
            SELECT c.external_id, c.email, w.slug, a.id, a.balance, COALESCE(x.expired, 0),
                   x.first_expiry, COALESCE(s.in_7, 0), COALESCE(s.in_30, 0), s.next_expiry
              FROM {ACCOUNTS} a
              JOIN {CUSTOMERS} c ON c.id = a.customer_id
              JOIN {WORKSPACES} w ON w.id = a.workspace_id
              LEFT JOIN (SELECT account_id, -SUM(amount) AS expired, MIN(created_at) AS first_expiry
                           FROM {ENTRIES} WHERE entry_type = %s GROUP BY account_id) x
                     ON x.account_id = a.id
              LEFT JOIN (SELECT account_id,
                                SUM(CASE WHEN expires_at <= %s THEN remaining ELSE 0 END) AS in_7,
                                SUM(remaining) AS in_30, MIN(expires_at) AS next_expiry
                           FROM {LOTS}
                          WHERE remaining > 0 AND expires_at > %s AND expires_at <= %s
                          GROUP BY account_id) s
                     ON s.account_id = a.id
             WHERE (x.account_id IS NOT NULL OR s.account_id IS NOT NULL){workspace_filter}
             ORDER BY COALESCE(x.expired, 0) DESC, a.id{limit_clause(limit)}"""
        params = [EntryType.EXPIRE, *bounds, *([workspace_id] if workspace_id is not None else [])]
        rows = [
            [*row[:6], as_datetime(row[6]), row[7], row[8], as_datetime(row[9])]
            for row in rows_fetch(sql, params)
        ]
        return self.output(
            rows=rows,
            params={"workspace": workspace_id, "limit": limit},
            generated_at=now,
            summary=self._expiring_totals(now=now, workspace_id=workspace_id),
            notes=["Expired amount and first expiry come from the expiry entries; expiring "
                   "credits are what active lots still hold before their expiry date."],
        )

    def _expiring_totals(self, *, now, workspace_id: int | None) -> dict:
        workspace_filter = f" AND account_id IN (SELECT id FROM {ACCOUNTS} WHERE workspace_id = %s)" if workspace_id else ""
        sql = f"""
            SELECT COALESCE(SUM(CASE WHEN expires_at <= %s THEN remaining ELSE 0 END), 0),
                   COALESCE(SUM(remaining), 0), COUNT(DISTINCT account_id)
              FROM {LOTS}
             WHERE remaining > 0 AND expires_at > %s AND expires_at <= %s{workspace_filter}"""
        params = [db_datetime(now + timedelta(days=7)), db_datetime(now), db_datetime(now + timedelta(days=30))]
        in_7, in_30, accounts = rows_fetch(sql, params + ([workspace_id] if workspace_id else []))[0]
        return {"expiring_7d": in_7, "expiring_30d": in_30, "accounts_expiring_30d": accounts}
