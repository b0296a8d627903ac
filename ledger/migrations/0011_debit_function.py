"""Install ledger_debit (sql/0011_debit_function.sql), debit_create's one-statement debit
on PostgreSQL; no-op elsewhere."""
from importlib import import_module

from django.db import migrations

# The same runner as the triggers: the SQL file on PostgreSQL, nothing elsewhere.
_run = import_module("ledger.migrations.0002_triggers")._run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0010_usage_shortfall_index")]

    operations = [
        migrations.RunPython(_run("0011_debit_function.sql"), _run("0011_debit_function_reverse.sql")),
    ]
