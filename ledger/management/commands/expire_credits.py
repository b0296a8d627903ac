"""Expire every due lot now (what the daily beat job does)."""
from django.core.management.base import BaseCommand

from ledger.actors import Actor
from ledger.services.expiry import grants_expire_due


class Command(BaseCommand):
    help = "Expire every lot whose expiry time has passed, in set-based batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="due lots read per page; their accounts form one transaction")

    def handle(self, *args, batch_size=None, **options):
        run = grants_expire_due(actor=Actor.system("expire_credits"), batch_size=batch_size)
        self.stdout.write(
            f"expired {run.lots} lots ({run.credits} credits) in {run.batches} batches"
        )
