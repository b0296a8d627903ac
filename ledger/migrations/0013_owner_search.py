"""Indexes for the admin's account search (selectors.accounts.account_ids_matching): a
product user's id, on every database; trigram indexes for the substring matches on
PostgreSQL (sql/0013_owner_search_trigram.sql), a no-op elsewhere."""
from importlib import import_module

from django.db import migrations, models

_run = import_module("ledger.migrations.0002_triggers")._run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_debit_function_generic_plans")]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["external_id"], name="ledger_customer_external_idx"),
        ),
        migrations.RunPython(_run("0013_owner_search_trigram.sql"), _run("0013_owner_search_trigram_reverse.sql")),
    ]
