"""key_credits_phase: show or change the stored key-credits phase (legacy, dual, credits)."""
from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from ledger.actors import Actor
from ledger.exceptions import LedgerError
from migrations_ops.services.key_phase import PHASES, key_credits_phase, key_credits_phase_set


class Command(BaseCommand):
    help = ("Show the key-credits phase every process reads, or change it (confirmed, with a reason, "
            "audited): legacy = keys table only, dual = keys table and accounts, credits = accounts only.")
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("phase", nargs="?", choices=PHASES, help="the phase to move to (omit to show it)")
        parser.add_argument("--reason", default="", help="why (kept in the audit log); required to change it")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, **options):
        current = key_credits_phase()
        wanted = options["phase"]
        if wanted is None or wanted == current:
            self.stdout.write(f"key credits phase: {current}")
            return
        if not options["yes"]:
            stdin = options.get("stdin") or sys.stdin
            if not stdin.isatty():
                raise CommandError("refusing without confirmation: standard input is not a terminal; pass --yes",
                                   returncode=2)
            self.stdout.write(f"Move the key credits phase from {current} to {wanted}? Type yes to continue: ", ending="")
            self.stdout.flush()
            if stdin.readline().strip().lower() != "yes":
                raise CommandError("not confirmed; nothing was changed", returncode=2)
        try:
            change = key_credits_phase_set(phase=wanted, actor=Actor(label=f"cli:{getpass.getuser()}"),
                                           reason=options["reason"])
        except LedgerError as error:
            raise CommandError(error.message, returncode=2) from None
        self.stdout.write(f"key credits phase: {change.before} -> {change.after}")
