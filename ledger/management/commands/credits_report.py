"""``manage.py credits_report NAME [--workspace WS] [--json | --csv] [--store]``."""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from ledger import reports
from ledger.actors import Actor
from ledger.models import Workspace
from ledger.reports.base import ReportOutput
from ledger.services.reports import report_run_store


def workspace_resolve(value: str | None) -> int | None:
    """Return the id of the workspace named by slug or id; CommandError when there is none."""
    if not value:
        return None
    found = Workspace.objects.filter(slug=value).values_list("pk", flat=True).first()
    if found is None and value.isdigit():
        found = Workspace.objects.filter(pk=int(value)).values_list("pk", flat=True).first()
    if found is None:
        raise CommandError(f"--workspace: no workspace with slug or id {value!r}")
    return found


class Command(BaseCommand):
    help = "Run a ledger report. Exits 1 when a report that checks invariants (consistency) finds anything."

    def add_arguments(self, parser):
        parser.add_argument("name", help=f"one of: {', '.join(reports.reports_all())}")
        parser.add_argument("--workspace", help="slug or id: only this workspace")
        parser.add_argument("--limit", type=int, help="at most this many rows (per check for consistency)")
        parser.add_argument("--store", action="store_true", help="also store the result (ReportResult)")
        formats = parser.add_mutually_exclusive_group()
        formats.add_argument("--json", action="store_true", help="print JSON")
        formats.add_argument("--csv", action="store_true", help="print CSV (rows only)")

    def handle(self, *args, name, workspace, limit, store, json, csv, **options):
        try:
            report = reports.report_get(name)
        except KeyError as error:
            raise CommandError(error.args[0]) from None
        workspace_id = workspace_resolve(workspace)
        if store:
            stored = report_run_store(name=name, actor=Actor.system("credits_report"), workspace_id=workspace_id, limit=limit)
            output = ReportOutput.from_dict(stored.result)
        else:
            output = report.run(workspace_id=workspace_id, limit=limit)
        self.stdout.write(output.to_json() if json else output.to_csv() if csv else output.to_text(), ending="")
        if json:
            self.stdout.write("")
        if report.fails_on_findings and output.findings:
            self.stderr.write(f"{name}: {output.findings} finding(s)")
            sys.exit(1)
