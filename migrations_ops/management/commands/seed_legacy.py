"""seed_legacy: create the legacy source tables and fill them with synthetic data."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from migrations_ops.demo import legacy_demo_load
from migrations_ops.legacy import LEGACY_TABLES, legacy_seed


class Command(BaseCommand):
    help = ("(Re)create legacy tables (keys, ...) with realistic synthetic rows for demos, tests and "
            "benchmarks. Each table is dropped and rebuilt; name a table with its option to seed it.")

    def add_arguments(self, parser):
        for table in LEGACY_TABLES.values():
            parser.add_argument(f"--{table.option}", type=int, metavar="N", help=table.help)
        parser.add_argument("--demo", action="store_true",
                            help="the make run demo: every legacy table, once (nothing when any exists)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same rows)")
        parser.add_argument("--database", default="default", help="connection alias")

    def handle(self, *args, **options):
        if options["demo"]:
            self.stdout.write(legacy_demo_load())
            return
        counts = {
            name: options[table.option.replace("-", "_")]
            for name, table in LEGACY_TABLES.items() if options[table.option.replace("-", "_")] is not None
        }
        if not counts:
            raise CommandError("name at least one table: " + ", ".join(f"--{t.option} N" for t in LEGACY_TABLES.values()))
        for name, count in counts.items():
            if count < 0:
                raise CommandError(f"--{LEGACY_TABLES[name].option} must be 0 or more")
        written = legacy_seed(counts=counts, seed=options["seed"], using=options["database"])
        for name, rows in written.items():
            self.stdout.write(f"{name}: {rows} rows (seed {options['seed']})")
