"""billing-usd-to-credits: legacy ``user_billing`` USD (and UAH) balances to ledger credits.

From the billing migration guide: each user with a USD balance gets a never-expiring
migration grant of credits_round(USD × rate) in the target workspace, their USD balance is
zeroed and the conversion is logged (``BillingMigrationLog``), in one transaction per user.
UAH balances are converted and zeroed only with an explicit ``uah_rate``; a balance that
was not converted is never zeroed.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum

from ledger.exceptions import LedgerError

from ..billing_models import BillingMigrationLog, BillingMigrationStatus, LegacyUserBilling
from ..exceptions import InvalidParams
from ..legacy import legacy_table_exists
from ..models import RecordAction
from ..services.billing import (
    DEBT,
    DEFAULT_WORKSPACE,
    SOURCE,
    UNSPENT,
    billing_grants_credits,
    billing_outcomes_log,
    billing_spent,
    billing_user_convert,
    billing_user_label,
    billing_user_revert,
    billing_workspace,
    conversion_plan,
    rate_parse,
)
from .base import CheckResult, Operation, RowOutcome
from .registry import register


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def _unconverted(pk, action: str, old: dict, who: str, reason: str, totals: dict | None = None) -> RowOutcome:
    """A user the batch did not convert; the reason goes to the record and the log."""
    return RowOutcome(pk, action, old=old, new={"reason": reason}, message=f"{who} - {reason}", totals=totals or {})


@register
class BillingUsdToCreditsOperation(Operation):
    """Convert user_billing balances to credits at --rate (and --uah-rate)."""

    name = "billing-usd-to-credits"
    description = "legacy user_billing USD (UAH with --uah-rate) balances to credits, balances zeroed, each user logged"
    conserves = (
        "credits: for the users a batch converts, the credits of the migration grants created equal "
        "credits_round(balance × rate) of the logged old balances, and the converted balances read 0"
    )
    accepted_params = {
        "workspace": f"target workspace slug (default {DEFAULT_WORKSPACE!r}; created if missing)",
        "rate": "credits per USD (default 1.0; positive and finite)",
        "uah_rate": "credits per UAH (default: UAH balances are reported, not converted)",
    }
    settle_modes = {
        DEBT: "void what is left of each migration grant and take the spent part back with an adjustment "
              "that may put the account in debt (its overdraft limit is raised to allow it, audited); "
              "the old balances are restored in full",
        UNSPENT: "void only what is left; restore the old balances pro rata of the unspent credits",
    }

    def params_clean(self, params):
        params = super().params_clean(params)
        params["rate"] = str(rate_parse(params.get("rate", "1.0"), option="--rate"))
        if "uah_rate" in params:
            params["uah_rate"] = str(rate_parse(params["uah_rate"], option="--uah-rate"))
        params.setdefault("workspace", DEFAULT_WORKSPACE)
        return params

    def workspace_known(self, *, slug, using):
        # The target workspace: the default one is created on first use, any other must exist.
        return slug == DEFAULT_WORKSPACE or super().workspace_known(slug=slug, using=using)

    def check(self, *, params, execute, force):
        result = CheckResult()
        if not legacy_table_exists("user_billing"):
            result.problems.append("the legacy table 'user_billing' does not exist "
                                   "(python manage.py seed_legacy --user-billing N creates a demo one)")
            return result
        result.notes = self._counts("default")
        if result.notes["uah_users"] and "uah_rate" not in params:
            result.notes["uah"] = "UAH balances are reported only (no --uah-rate): they are not converted or zeroed"
        return result

    def _counts(self, using: str) -> dict:
        totals = LegacyUserBilling.objects.using(using).aggregate(
            users=Count("pk"), usd=Sum("balance_usd"), uah=Sum("balance_uah"),
            usd_users=Count("pk", filter=Q(balance_usd__gt=0)), uah_users=Count("pk", filter=Q(balance_uah__gt=0)),
        )
        return {name: (str(value) if isinstance(value, Decimal) else value or 0) for name, value in totals.items()}

    def scope(self, *, params, using):
        return LegacyUserBilling.objects.using(using).all()

    def fingerprint(self, *, params, using):
        migrated = BillingMigrationLog.objects.filter(status=BillingMigrationStatus.SUCCESS).count()
        return {**self._counts(using), "migrated_logs": migrated}

    # -- one batch -------------------------------------------------------------------------

    def batch_apply(self, *, rows, ctx):
        locked = {
            row.pk: row for row in
            LegacyUserBilling.objects.select_for_update().filter(pk__in=[r.pk for r in rows]).order_by("pk")
        }
        workspace = billing_workspace(ctx.params["workspace"])
        outcomes, unconverted = [], []
        for row in rows:
            outcome = self._row(locked.get(row.pk), row.pk, workspace, ctx)
            outcomes.append(outcome)
            if outcome.action != RecordAction.CHANGED and row.pk in locked:
                status = (BillingMigrationStatus.FAILED if outcome.action == RecordAction.FAILED
                          else BillingMigrationStatus.SKIPPED)
                unconverted.append((locked[row.pk], status, outcome.new["reason"], Decimal(ctx.params["rate"])))
        billing_outcomes_log(run_id=ctx.run.pk, outcomes=unconverted)
        return outcomes

    def _row(self, row, pk, workspace, ctx) -> RowOutcome:
        if row is None:
            return RowOutcome(pk, RecordAction.SKIPPED, message=f"User: {pk} - gone from the primary",
                              totals={"skipped_gone": 1})
        who = billing_user_label(user_id=row.user_id, email=row.email)
        old = {"email": row.email, "balance_usd": str(row.balance_usd), "balance_uah": str(row.balance_uah)}
        rate, uah_rate = Decimal(ctx.params["rate"]), ctx.params.get("uah_rate")
        plan = conversion_plan(row=row, rate=rate, uah_rate=Decimal(uah_rate) if uah_rate else None)
        uah_note = f"; UAH ₴{plan.uah:.2f} not converted (no --uah-rate)" if plan.uah > 0 and not uah_rate else ""
        uah_totals = {"uah_not_converted_cents": _cents(plan.uah)} if uah_note else {}
        if plan.usd < 0 or plan.uah < 0:
            return _unconverted(pk, RecordAction.FAILED, old, who,
                                f"negative balance (${plan.usd:.2f} USD, ₴{plan.uah:.2f} UAH), not migrated")
        if plan.usd == 0 and (plan.uah == 0 or not uah_rate):
            return _unconverted(pk, RecordAction.SKIPPED, old, who, f"zero balance, skipped{uah_note}",
                                {"skipped_zero_balance": 1, **uah_totals})
        if plan.credits == 0:
            return _unconverted(pk, RecordAction.SKIPPED, old, who,
                                f"${plan.usd:.2f} converts to 0 credits at rate {rate}, not zeroed{uah_note}",
                                {"skipped_zero_credits": 1, **uah_totals})
        try:
            with transaction.atomic():
                log = billing_user_convert(row=row, plan=plan, workspace=workspace, run_id=ctx.run.pk,
                                           rate=ctx.params["rate"], uah_rate=uah_rate, actor=ctx.actor)
        except (LedgerError, InvalidParams) as error:
            return _unconverted(pk, RecordAction.FAILED, old, who, str(error))
        verb = "Would migrate" if ctx.dry_run else "Migrated"
        totals = {"users": 1, "usd_cents": _cents(plan.usd) if plan.usd_credits else 0, "credits": plan.credits,
                  "uah_cents": _cents(plan.uah) if plan.uah_credits else 0, **uah_totals}
        new = {"log_id": log.pk, "grant_id": log.grant_id, "account_id": log.account_id, "credits": plan.credits,
               "usd_zeroed": log.usd_zeroed, "uah_zeroed": log.uah_zeroed}
        return RowOutcome(pk, RecordAction.CHANGED, old=old, new=new, totals=totals,
                          message=f"{who} - ${plan.usd:.2f} → {plan.credits} credits - {verb}{uah_note}")

    def batch_conserve(self, *, rows, outcomes, ctx):
        changed = {o.key: o for o in outcomes if o.action == RecordAction.CHANGED}
        if not changed:
            return []
        problems = []
        logs = BillingMigrationLog.objects.filter(pk__in=[o.new["log_id"] for o in changed.values()])
        rate, uah_rate = Decimal(ctx.params["rate"]), ctx.params.get("uah_rate")
        expected = 0
        for log in logs:
            plan = conversion_plan(
                row=LegacyUserBilling(user_id=log.user_id, balance_usd=log.old_balance_usd, balance_uah=log.old_balance_uah),
                rate=rate, uah_rate=Decimal(uah_rate) if uah_rate else None,
            )
            expected += plan.credits
        granted = billing_grants_credits(grant_ids=[o.new["grant_id"] for o in changed.values()])
        if granted != expected:
            problems.append(f"granted {granted} credits, the old balances convert to {expected}")
        current = {row.pk: row for row in LegacyUserBilling.objects.filter(pk__in=list(changed))}
        for key, outcome in changed.items():
            row = current.get(key)
            if (outcome.new["usd_zeroed"] and row.balance_usd != 0) or (outcome.new["uah_zeroed"] and row.balance_uah != 0):
                problems.append(f"{key}: converted balance not zeroed")
        return problems

    # -- output, verify, rollback, status --------------------------------------------------------

    def run_lines(self, *, run):
        lines = [r.message for r in run.records.order_by("pk") if r.message]
        totals = run.totals
        lines.append(
            f"Summary: users to migrate {totals.get('users', 0)}, total USD ${Decimal(totals.get('usd_cents', 0)) / 100:.2f}, "
            f"total credits {totals.get('credits', 0)}"
            + (f", UAH not converted ₴{Decimal(totals['uah_not_converted_cents']) / 100:.2f}"
               if totals.get("uah_not_converted_cents") else "")
        )
        return lines

    def _logs(self, run):
        return BillingMigrationLog.objects.filter(run=run, status=BillingMigrationStatus.SUCCESS).select_related("grant")

    def verify(self, *, run):
        problems = []
        for log in self._logs(run):
            row = LegacyUserBilling.objects.filter(pk=log.user_id).first()
            if row is None:
                problems.append(f"{log.user_id}: user_billing row is gone")
            elif (log.usd_zeroed and row.balance_usd != 0) or (log.uah_zeroed and row.balance_uah != 0):
                problems.append(f"{log.user_id}: converted balance is not 0 (USD {row.balance_usd}, UAH {row.balance_uah})")
            if log.grant.amount != log.new_credits or log.grant.voided_at is not None:
                problems.append(f"{log.user_id}: migration grant #{log.grant_id} is voided or differs from the log")
        failed = run.records.filter(action=RecordAction.FAILED).count()
        if failed:
            problems.append(f"{failed} users failed (see the run's records)")
        return problems

    def rollback_blockers(self, *, run, settle):
        if settle in (DEBT, UNSPENT):
            return []
        return [
            f"{billing_user_label(user_id=log.user_id, email=log.email)}: {billing_spent(log=log)} of "
            f"{log.new_credits} migrated credits spent since"
            for log in self._logs(run).order_by("user_id") if billing_spent(log=log)
        ]

    def rollback_record(self, *, record, ctx):
        log = BillingMigrationLog.objects.select_related("grant").get(pk=record.new["log_id"])
        return billing_user_revert(log=log, actor=ctx.actor, settle=ctx.settle)

    def status(self, *, params):
        migrated = BillingMigrationLog.objects.filter(status=BillingMigrationStatus.SUCCESS).values("user_id").distinct().count()
        pending = LegacyUserBilling.objects.filter(balance_usd__gt=0).count() if legacy_table_exists("user_billing") else 0
        return {"migrated": migrated, "pending": pending}


__all__ = ["BillingUsdToCreditsOperation", "SOURCE"]
