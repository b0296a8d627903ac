"""The billing migration status report: per legacy ``user_billing`` user, their credit
balance and whether the USD billing migration moved them (billing migration guide)."""
from __future__ import annotations

from django.apps import apps
from django.db import connection

from .. import clock
from . import report_register
from .base import Report, ReportOutput
from .sql import ACCOUNTS, as_datetime, limit_clause, rows_fetch

LEGACY_TABLE = "user_billing"


STATUSES = ("success", "rolled_back", "pending", "failed", "not converted", "nothing to migrate")


@report_register
class BillingMigrationStatusReport(Report):
    name = "billing_migration_status"
    title = "USD billing migration status"
    columns = ["user", "email", "credit_balance", "migration_status", "migrated_at", "balance_usd", "balance_uah",
               "reason"]
    description = ("Per user_billing user (by user_id): credit balance, migration status (success, rolled back, "
                   "pending, failed with its reason, not converted, nothing to migrate) and when. Findings: users "
                   "who failed or still hold a USD or UAH balance (the command exits 1 while there are any).")
    fails_on_findings = True

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        """List every legacy billing user with the latest outcome of the migration of their
        balance: a conversion, rollback or failure outranks a later skip (a run that found
        nothing left to convert does not hide that the user was migrated)."""
        now = clock.now()
        params = {"workspace": workspace_id, "limit": limit}
        with connection.cursor() as cursor:
            if LEGACY_TABLE not in connection.introspection.table_names(cursor):
                return self.output(rows=[], params=params, generated_at=now,
                                   notes=["The legacy user_billing table does not exist."])
        logs = apps.get_model("migrations_ops", "BillingMigrationLog")._meta.db_table
        workspace_filter = " AND (a.workspace_id = %s OR a.id IS NULL)" if workspace_id is not None else ""
        left = "(b.balance_usd <> 0 OR b.balance_uah <> 0)"
        sql = f"""
            SELECT b.user_id, COALESCE(NULLIF(l.email, ''), b.email), a.balance,
                   CASE WHEN l.status IN ('success', 'rolled_back', 'failed') THEN l.status
                        WHEN l.status = 'skipped' AND {left} THEN 'not converted'
                        WHEN l.status = 'skipped' THEN 'nothing to migrate'
                        WHEN b.balance_usd < 0 OR b.balance_uah < 0 THEN 'failed'
                        WHEN b.balance_usd > 0 OR b.balance_uah > 0 THEN 'pending'
                        ELSE 'nothing to migrate' END,
                   l.migrated_at, b.balance_usd, b.balance_uah,
                   CASE WHEN l.status IN ('failed', 'skipped') THEN l.reason
                        WHEN l.id IS NULL AND (b.balance_usd < 0 OR b.balance_uah < 0) THEN 'negative balance'
                        ELSE '' END
              FROM {LEGACY_TABLE} b
              LEFT JOIN {logs} l ON l.id = (
                    SELECT x.id FROM {logs} x WHERE x.user_id = b.user_id
                     ORDER BY CASE WHEN x.status = 'skipped' THEN 0 ELSE 1 END DESC, x.id DESC LIMIT 1)
              LEFT JOIN {ACCOUNTS} a ON a.id = l.account_id
             WHERE 1 = 1{workspace_filter}
             ORDER BY b.user_id{limit_clause(limit)}"""
        rows = [
            [user, email, balance, status, as_datetime(migrated), usd, uah, reason]
            for user, email, balance, status, migrated, usd, uah, reason in
            rows_fetch(sql, [workspace_id] if workspace_id is not None else [])
        ]
        summary = {status: sum(1 for row in rows if row[3] == status) for status in STATUSES}
        unmigrated = sum(1 for row in rows if row[3] == "failed" or row[5] != 0 or row[6] != 0)
        summary["unmigrated"] = unmigrated
        return self.output(rows=rows, params=params, generated_at=now, summary=summary, findings=unmigrated,
                           notes=["Credit balance is the balance of the account the latest migration credited.",
                                  "Unmigrated: users who failed or still hold a USD or UAH balance."])
