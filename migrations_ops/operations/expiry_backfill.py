"""expiry-backfill: grants made before the expiry policy get an expiry; legacy users open from
their credit history, each credit expiring on its own date (credit system update guide).

Rows are visited in two keyset passes: first the ledger's live lots with no expiry (by id),
then the legacy ``users`` rows (by id); the cursor is ``["grant", id]`` or ``["user", id]``.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import CharField, Sum
from django.db.models.functions import Cast

from ledger import clock
from ledger.exceptions import LedgerError
from ledger.models import CreditAccount, Grant, LedgerEntry
from ledger.reports.expiry import ExpiryReport
from ledger.selectors.policies import policy_get

from ..exceptions import InvalidParams
from ..models import LegacyUser, RecordAction
from ..services.expiry_backfill import (
    SOURCE,
    accounts_off_balance,
    grants_without_expiry,
    legacy_user_problem,
    lot_expiry_backfill,
    lot_expiry_clear,
    lot_expiry_reverse,
    transactions_count,
    user_opening_lots,
    user_opening_void,
    user_transactions,
    users_off_opening,
    users_opened,
    workspace_target,
)
from .base import CheckResult, Operation, RowOutcome
from .registry import register

KEEP = "keep"
MAX_MONTHS = 1200


def months_clean(value) -> int:
    """--months: a whole number of months from 1 to 1200."""
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise InvalidParams(f"--months must be a whole number of months, not {value!r}")
    months = int(text)
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidParams(f"--months must be from 1 to {MAX_MONTHS}, not {months}")
    return months


@register
class ExpiryBackfillOperation(Operation):
    """Backfill expiry dates on old lots (expiring the past-due ones) and open legacy users
    from their credit_transactions: one migration grant per credit with credits left, each
    expiring on its own date; users.credits recalculated to the live credits."""

    name = "expiry-backfill"
    description = "expiry dates for lots granted before the expiry policy; legacy users' credits to dated lots"
    conserves = ("balances: every account a batch touches has balance = sum of its entries = "
                 "lots remaining - debt; a user's opening grants add up to their old users.credits, "
                 "and the live ones to the recalculated users.credits")
    accepted_params = {"workspace": "grants of this workspace only; users open in it (default legacy-users)",
                       "months": "months after the grant (overrides the workspace policy)"}
    settle_modes = {KEEP: "void only the unspent part of opening grants; credits spent since stay spent"}

    def params_clean(self, params):
        params = super().params_clean(params)
        if "months" in params:
            params["months"] = months_clean(params["months"])
        return params

    # -- reading ----------------------------------------------------------------------------

    def scope(self, *, params, using):
        return grants_without_expiry(workspace=params.get("workspace")).using(using)

    def _users(self, using):
        return LegacyUser.objects.using(using).all()

    def count(self, *, params, using):
        return self.scope(params=params, using=using).count() + self._users(using).count()

    def fingerprint(self, *, params, using):
        grants = self.scope(params=params, using=using)
        return {
            "grants": grants.count(), "grants_remaining": grants.aggregate(t=Sum("remaining"))["t"] or 0,
            "users": self._users(using).count(), "users_credits": self._users(using).aggregate(t=Sum("credits"))["t"] or 0,
            "opened": LedgerEntry.objects.using(using).filter(source=SOURCE).count(),
            "transactions": transactions_count(using=using),
        }

    def check(self, *, params, execute, force):
        data = self.fingerprint(params=params, using="default")
        return CheckResult(notes={"grants_without_expiry": data["grants"], "legacy_users": data["users"],
                                  "users_credits": data["users_credits"], "credit_transactions": data["transactions"],
                                  "months": params.get("months", "policy")})

    def batch_read(self, *, params, after, limit, using):
        kind, last = after if after else ("grant", None)
        rows = []
        if kind == "grant":
            grants = self.scope(params=params, using=using)
            if last is not None:
                grants = grants.filter(pk__gt=last)
            rows = [("grant", pk) for pk in grants.order_by("pk").values_list("pk", flat=True)[:limit]]
            last = None
        if len(rows) < limit:
            users = self._users(using)
            if kind == "user" and last is not None:
                users = users.filter(pk__gt=last)
            rows += [("user", pk) for pk in users.order_by("pk").values_list("pk", flat=True)[:limit - len(rows)]]
        return rows

    def row_cursor(self, row):
        return list(row)

    # -- writing ----------------------------------------------------------------------------

    def batch_apply(self, *, rows, ctx):
        at, months_by_ws = clock.now(), {}

        def months(workspace_id):
            if "months" in ctx.params:
                return ctx.params["months"]
            if workspace_id not in months_by_ws:
                months_by_ws[workspace_id] = policy_get(workspace_id=workspace_id).expiry_months
            return months_by_ws[workspace_id]

        grant_ids = [pk for kind, pk in rows if kind == "grant"]
        workspaces = dict(Grant.objects.filter(pk__in=grant_ids).values_list("pk", "account__workspace_id"))
        user_ids = [pk for kind, pk in rows if kind == "user"]
        users = {u.pk: u for u in LegacyUser.objects.select_for_update().filter(pk__in=user_ids).order_by("pk")}
        target = workspace_target(ctx.params.get("workspace")) if users else None
        history, opened = user_transactions(user_ids=user_ids), users_opened(user_ids=user_ids)
        outcomes = []
        for kind, pk in rows:
            if kind == "grant":
                outcomes.append(self._grant(pk, workspaces.get(pk), months, at, ctx))
            else:
                outcomes.append(self._user(users.get(pk), pk, target, months, at, ctx,
                                           transactions=history.get(pk, []), opened=opened))
        return outcomes

    def _grant(self, pk, workspace_id, months, at, ctx):
        key = f"grant:{pk}"
        if workspace_id is None:
            return RowOutcome(key, RecordAction.SKIPPED, message="gone", totals={"skipped_gone": 1})
        count = months(workspace_id)
        if not count:
            return RowOutcome(key, RecordAction.SKIPPED, message="the workspace policy never expires",
                              totals={"skipped_policy_never": 1})
        done = lot_expiry_backfill(grant_id=pk, months=count, at=at, actor=ctx.actor)
        if done is None:
            return RowOutcome(key, RecordAction.SKIPPED, message="has an expiry already", totals={"skipped_done": 1})
        account_id = Grant.objects.filter(pk=pk).values_list("account_id", flat=True).get()
        return RowOutcome(
            key, RecordAction.CHANGED, old={"expires_at": None},
            new={"grant_id": pk, "account_id": account_id, "expires_at": done.expires_at.isoformat(), "expired": done.expired},
            totals={"grants_backfilled": 1, "grants_expired": int(bool(done.expired)), "credits_expired": done.expired},
        )

    def _user(self, user, pk, target, months, at, ctx, *, transactions, opened):
        key = f"user:{pk}"
        if user is None:
            return RowOutcome(key, RecordAction.SKIPPED, message="gone from the primary", totals={"skipped_gone": 1})
        old = {"email": user.email, "credits": user.credits, "created_at": user.created_at.isoformat()}
        problem = legacy_user_problem(user)
        if problem:
            return RowOutcome(key, RecordAction.FAILED, old=old, message=problem)
        if pk in opened:
            return RowOutcome(key, RecordAction.SKIPPED, message="already opened", totals={"skipped_migrated": 1})
        if user.credits == 0:
            net = sum(amount for _, amount, _ in transactions)
            message = f"no credits (the transactions add up to {net})" if net else "no credits"
            return RowOutcome(key, RecordAction.SKIPPED, message=message, totals={"skipped_zero": 1})
        try:
            with transaction.atomic():
                done = user_opening_lots(user=user, transactions=transactions, workspace=target,
                                         months=months(target.pk), at=at, actor=ctx.actor)
        except LedgerError as error:
            return RowOutcome(key, RecordAction.FAILED, old=old, message=error.message)
        new = {"account_id": done.account_id, "lots": done.lots, "credits": done.live, "expired": done.expired,
               "transactions_net": done.transactions_net, "difference": done.difference}
        message = ""
        if done.difference:
            message = (f"users.credits {user.credits} but the transactions add up to {done.transactions_net}: "
                       + ("the surplus opens as credits dated at signup" if done.difference > 0
                          else "the shortfall is taken as an unrecorded spend, earliest expiry first"))
        return RowOutcome(key, RecordAction.CHANGED, old=old, new=new, message=message, totals={
            "users_opened": 1, "opening_credits": user.credits, "opening_expired": done.expired,
            "opening_lots": len(done.lots), "users_credits_after": done.live,
            "users_mismatched": int(bool(done.difference)),
        })

    def batch_conserve(self, *, rows, outcomes, ctx):
        changed = [o for o in outcomes if o.action == RecordAction.CHANGED]
        problems = accounts_off_balance(account_ids=sorted({o.new["account_id"] for o in changed}))
        return problems + users_off_opening(records=[(o.key, o.old, o.new) for o in changed if o.key.startswith("user:")])

    # -- after the run ----------------------------------------------------------------------

    @staticmethod
    def _changed(run):
        return run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True).order_by("pk")

    def verify(self, *, run):
        problems = []
        if run.status == "rolled_back":
            return problems
        missing = grants_without_expiry(workspace=run.params.get("workspace")).count()
        if missing:
            problems.append(f"{missing} live grants still have no expiry date")
        records = list(self._changed(run))
        problems += accounts_off_balance(account_ids=sorted({r.new["account_id"] for r in records}))
        problems += self._report_mismatches(records)
        problems += users_off_opening(records=[(r.row_key, r.old, r.new) for r in records if r.row_key.startswith("user:")],
                                      live=False)
        if run.failed:
            problems.append(f"{run.failed} rows failed; see the run's failed records")
        return problems

    def _report_mismatches(self, records) -> list[str]:
        """The "users affected by expiry" report must list every product user whose credits
        the run expired, with their balance and at least what the run expired."""
        expired: dict[int, int] = {}
        for record in records:
            if record.new.get("expired"):
                expired[record.new["account_id"]] = expired.get(record.new["account_id"], 0) + record.new["expired"]
        accounts = CreditAccount.objects.filter(pk__in=expired, customer__isnull=False).select_related("customer")
        report = {row[3]: row for row in ExpiryReport().run().rows}
        problems = []
        for account in accounts:
            row = report.get(account.pk)
            if row is None:
                problems.append(f"user {account.customer.external_id}: expired by the run but not in the expiry report")
            elif row[1] != account.customer.email or row[4] != account.balance or row[5] < expired[account.pk]:
                problems.append(f"user {account.customer.external_id}: the expiry report says {row[1]}, balance {row[4]}, "
                                f"expired {row[5]}; the run expired {expired[account.pk]}")
        return problems

    def rollback_blockers(self, *, run, settle):
        if settle == KEEP:
            return []
        records = [r for r in self._changed(run) if r.row_key.startswith("user:")]
        live = {lot[0]: record for record in records for lot in record.new["lots"] if not lot[3]}
        credits = dict(LegacyUser.objects.filter(pk__in=[r.row_key.split(":")[1] for r in records])
                       .values_list("pk", "credits"))
        blockers = []
        for grant in Grant.objects.filter(pk__in=live, voided_at__isnull=True, expired_at__isnull=True).order_by("pk"):
            if grant.remaining < grant.amount:
                blockers.append(f"{live[grant.pk].row_key} (account #{grant.account_id}): "
                                f"{grant.amount - grant.remaining} of {grant.amount} opening credits spent since")
        for record in records:
            now = credits.get(int(record.row_key.split(":")[1]))
            if now != record.new["credits"]:
                blockers.append(f"{record.row_key}: users.credits is {now} since, not {record.new['credits']}")
        return blockers

    def rollback_record(self, *, record, ctx):
        new = record.new
        if record.row_key.startswith("grant:"):
            with transaction.atomic():
                restored = lot_expiry_reverse(grant_id=new["grant_id"], credits=new["expired"], actor=ctx.actor,
                                              run_id=ctx.run.pk) if new["expired"] else 0
                return {"expiry_restored": restored, "expiry_cleared": int(lot_expiry_clear(
                    grant_id=new["grant_id"], expires_at=new["expires_at"]))}
        # The lapsed lots stay as they are: their grant and expiry entries already net to 0.
        voided = user_opening_void(user_id=int(record.row_key.split(":")[1]), old=record.old, new=new,
                                   keep=ctx.settle == KEEP, actor=ctx.actor, run_id=ctx.run.pk)
        return {"voided": voided, "users_credits_restored": 1}

    def status(self, *, params):
        opened = Grant.objects.filter(source=SOURCE).values("source_id")
        pending = self.scope(params=params, using="default").count()
        pending += (LegacyUser.objects.filter(credits__gt=0).annotate(key=Cast("pk", CharField()))
                    .exclude(key__in=opened).count())
        return {"migrated": opened.distinct().count(), "pending": pending}
