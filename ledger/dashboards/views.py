"""Admin views of the dashboards and reports: thin callers of selectors, reports and services.

All are wrapped by ``admin.site.admin_view`` in ``urls.py`` (staff only, login redirect);
the repair view also needs the ``ledger.repair_accounts`` permission.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .. import clock, reports, tasks_reports
from ..actors import Actor
from ..exceptions import LedgerError
from ..models import CreditAccount, ReportResult, Workspace
from ..reports.base import ReportOutput
from ..selectors import dashboards as selectors
from ..selectors.repairs import account_repair_preview
from ..services.accounts import account_recalculate
from ..services.reports import report_run_store
from ..services.summaries import SUMMARY_DAYS, daily_summary_catch_up
from . import charts
from .health import sections_build

#: Rows a report page shows; CSV and JSON downloads have them all.
PAGE_ROWS = 500
FLOW_COLORS = {"granted": "#2e7d32", "spent": "#1565c0", "expired": "#c62828", "voided": "#6d4c41",
               "refilled": "#ef6c00", "migrated_in": "#00838f", "migrated_out": "#ad1457"}
FLOW_LABELS = {"migrated_in": "Migrated in", "migrated_out": "Migrations rolled back"}
#: Who may rebuild the daily summary from the overview.
SUMMARY_REFRESH_PERMISSION = "ledger.change_dailysummary"


def _flow_series(series: dict, names) -> list:
    return [charts.Series(FLOW_LABELS.get(name, name.capitalize()), FLOW_COLORS[name], series[name]) for name in names]


def _context(request, title: str, **extra) -> dict:
    # The model sidebar would only narrow the charts; the dashboards have their own tabs.
    return {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, "title": title, **extra}


def _workspace(request) -> Workspace | None:
    slug = request.GET.get("workspace") or ""
    if not slug:
        return None
    return Workspace.objects.filter(slug=slug).first() or _not_found(f"no workspace {slug!r}")


def _not_found(message: str):
    raise Http404(message)


def overview(request):
    """Credits overview: outstanding, the 90-day business flows and, apart, the data
    migrations' flows as charts, top accounts, expiring soon; each figure with its "as of"."""
    workspace = _workspace(request)
    workspace_id = workspace.pk if workspace else None
    series = selectors.summary_series(workspace_id=workspace_id, days=SUMMARY_DAYS)
    return render(request, "admin/dashboards/overview.html", _context(
        request, "Credits overview",
        workspace=workspace, workspaces=selectors.workspaces_for_filter(), series=series, now=clock.now(),
        outstanding=selectors.outstanding_now(workspace_id=workspace_id),
        flows_chart=charts.line_chart(series=_flow_series(series, selectors.FLOWS), days=series["days"],
                                      title="Credits per day, last 90 days (UTC)"),
        migrations_moved=any(series["totals"][name] for name in selectors.MIGRATION_FLOWS),
        migrations_chart=charts.line_chart(series=_flow_series(series, selectors.MIGRATION_FLOWS), days=series["days"],
                                           title="Data migrations per day, last 90 days (UTC)", height=200),
        can_refresh=request.user.has_perm(SUMMARY_REFRESH_PERMISSION),
        outstanding_chart=charts.line_chart(
            series=[charts.Series("Outstanding", "#6a1b9a", series["outstanding"])], days=series["days"],
            title="Outstanding credits at the end of each day", height=220, area=True,
        ),
        top_balance=selectors.accounts_top(workspace_id=workspace_id, order="balance"),
        top_spend=selectors.accounts_top(workspace_id=workspace_id, order="total_spent"),
        expiring=selectors.expiring_soon(workspace_id=workspace_id),
        refreshed_at=selectors.summary_refreshed_at(),
    ))


@require_POST
def summary_refresh(request):
    """Bring the daily summary up to now (what the beat job does every 10 minutes)."""
    if not request.user.has_perm(SUMMARY_REFRESH_PERMISSION):
        raise PermissionDenied("refreshing the summary needs the change_dailysummary permission (Operations)")
    start, end = daily_summary_catch_up(days=SUMMARY_DAYS, actor=Actor.staff(request.user))
    messages.success(request, f"Daily summary rebuilt from {start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC).")
    target = reverse("dashboards:overview")
    slug = request.POST.get("workspace", "")
    return redirect(f"{target}?{urlencode({'workspace': slug})}" if slug else target)


def health(request):
    """Health: the latest consistency report, report sections and late beat jobs."""
    sections = sections_build(now=clock.now())
    return render(request, "admin/dashboards/health.html", _context(
        request, "Health", sections=sections, all_ok=all(s.status == "ok" for s in sections),
        can_repair=request.user.has_perm("ledger.repair_accounts"),
    ))


def reports_index(request):
    recent = ReportResult.objects.select_related("created_by").only(
        "name", "findings", "generated_at", "duration_ms", "actor", "created_by__username")[:20]
    return render(request, "admin/dashboards/reports.html", _context(
        request, "Reports", reports=reports.reports_all().values(), recent=recent,
    ))


def report(request, name: str):
    """Show a report. Heavy reports (``health == "stored"``) over every workspace show their
    latest stored result; others, and any report for one workspace, run now.
    ``?format=csv|json`` downloads every row, the page shows the first ones."""
    try:
        instance = reports.report_get(name)
    except KeyError:
        raise Http404(f"no report {name!r}") from None
    workspace = _workspace(request)
    fmt = request.GET.get("format", "html")
    stored = None
    if instance.health == "stored" and workspace is None:
        stored = selectors.report_latest(name=name)
        output = ReportOutput.from_dict(stored.result) if stored else None
    else:
        output = instance.run(workspace_id=workspace.pk if workspace else None,
                              limit=None if fmt in ("csv", "json") else PAGE_ROWS)
    if output is not None and fmt in ("csv", "json"):
        body = output.to_csv() if fmt == "csv" else output.to_json()
        response = HttpResponse(body, content_type="text/csv" if fmt == "csv" else "application/json")
        response["Content-Disposition"] = f'attachment; filename="{name}-{output.generated_at:%Y%m%d-%H%M}.{fmt}"'
        return response
    return _render_output(request, output, report=instance, workspace=workspace, stored=stored, live=stored is None)


def result(request, pk: int):
    stored = get_object_or_404(ReportResult, pk=pk)
    return _render_output(request, ReportOutput.from_dict(stored.result), stored=stored, live=False)


def _render_output(request, output: ReportOutput | None, **extra):
    title = output.title if output else extra["report"].title
    return render(request, "admin/dashboards/report.html", _context(
        request, title, output=output, rows=output.rows[:PAGE_ROWS] if output else [],
        workspaces=selectors.workspaces_for_filter(),
        can_repair=request.user.has_perm("ledger.repair_accounts"), **extra,
    ))


@require_POST
def report_run(request, name: str):
    """Run a report and store its result (as the daily job does), then show it. A heavy
    report (shown stored on Health) runs in the worker instead of this request."""
    if name not in reports.reports_all():
        raise Http404(f"no report {name!r}")
    if reports.reports_all()[name].health == "stored":
        tasks_reports.report_store.delay(name, request.user.pk)
        messages.info(request, f"{name} is running in the background; its result will be listed here when done.")
        return redirect("dashboards:reports")
    stored = report_run_store(name=name, actor=Actor.staff(request.user))
    messages.success(request, f"{stored.name}: {stored.findings} finding(s), stored as result #{stored.pk}.")
    return redirect("dashboards:result", pk=stored.pk)


def repair(request, account_id: int):
    """Show what repairing the account does; on POST with a reason, do it."""
    if not request.user.has_perm("ledger.repair_accounts"):
        raise PermissionDenied("repairing accounts needs the repair_accounts permission (Operations)")
    try:
        preview = account_repair_preview(account_id=account_id)
    except CreditAccount.DoesNotExist:
        raise Http404(f"no account {account_id}") from None
    error = None
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            done = account_recalculate(account_id=account_id, actor=Actor.staff(request.user), reason=reason)
        except LedgerError as failure:
            error = failure.message
        else:
            changed = [name for name in done.before if done.before[name] != done.after[name]]
            booked = f"; adjustment entry #{done.adjustment_entry_id} of {done.adjustment:+,}" if done.adjustment else ""
            messages.success(request, f"Account {account_id} repaired: {', '.join(changed) or 'nothing'} changed{booked}.")
            return redirect(request.POST.get("next") or reverse("dashboards:health"))
    return render(request, "admin/dashboards/repair.html", _context(
        request, f"Repair account {account_id}", preview=preview, error=error, next=request.GET.get("next", ""),
    ))
