"""Replace ledger_debit's body (sql/0012_debit_function_generic_plans.sql): statements
PostgreSQL plans once per connection; backwards, 0011's body. No-op off PostgreSQL."""
from importlib import import_module

from django.db import migrations

_run = import_module("ledger.migrations.0002_triggers")._run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0011_debit_function")]

    operations = [
        migrations.RunPython(_run("0012_debit_function_generic_plans.sql"), _run("0011_debit_function.sql")),
    ]
