"""``manage.py credits_summary_refresh [--days N | --start DATE --end DATE]``: rebuild the
daily summary the credits overview reads (the beat job does the last two days daily)."""
from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from ledger import clock
from ledger.actors import Actor
from ledger.exceptions import LedgerError
from ledger.services.summaries import daily_summary_refresh


class Command(BaseCommand):
    help = "Rebuild the daily credits summary from the ledger entries for a range of UTC days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="the last N days up to today (default 90)")
        parser.add_argument("--start", type=date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=date.fromisoformat, help="last day, YYYY-MM-DD (default today)")

    def handle(self, *args, days, start, end, **options):
        end = end or clock.now().date()
        start = start or end - timedelta(days=days - 1)
        try:
            rebuilt = daily_summary_refresh(start=start, end=end, actor=Actor.system("credits_summary_refresh"))
        except LedgerError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"daily summary rebuilt for {rebuilt} day(s), {start} to {end}")
