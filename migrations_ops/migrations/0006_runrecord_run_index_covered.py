"""RunRecord.run loses its own index: (run, row_key) and (run, action) both lead with it.

Only the index is dropped (the foreign key stays as it is, not dropped and re-validated,
which AlterField would do on a table of millions of records). MySQL keeps it: there a
foreign key needs an index of its own choosing.
"""
import django.db.models.deletion
from django.db import migrations, models

INDEX = "migrations_ops_runrecord_run_id_5247c634"


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(INDEX)}")


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(INDEX)} ON migrations_ops_runrecord (run_id)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('migrations_ops', '0005_users_credits_default_100'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='runrecord',
                    name='run',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name='records', to='migrations_ops.run'),
                ),
            ],
            database_operations=[migrations.RunPython(index_drop, index_create)],
        ),
    ]
