"""Refill every account that is due now (what the daily beat job does)."""
from django.core.management.base import BaseCommand

from ledger.actors import Actor
from ledger.services.refills import accounts_refill_due


class Command(BaseCommand):
    help = "Refill every account whose refill day has come, once per period."

    def handle(self, *args, **options):
        run = accounts_refill_due(actor=Actor.system("refill_credits"))
        self.stdout.write(
            f"refilled {run.refilled} accounts (+{run.credits_added} / -{run.credits_removed} credits)"
        )
