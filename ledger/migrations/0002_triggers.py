"""Install the ledger's PostgreSQL triggers (sql/0002_triggers.sql); no-op elsewhere."""
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


def _run(filename: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # A plain cursor: no parameters, so the '%' in RAISE formats stays literal.
            with schema_editor.connection.cursor() as cursor:
                cursor.execute((SQL_DIR / filename).read_text())

    return run


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(_run("0002_triggers.sql"), _run("0002_triggers_reverse.sql")),
    ]
