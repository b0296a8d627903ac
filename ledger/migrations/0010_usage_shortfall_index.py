"""The undeducted-tasks report's index on tasks charged short, and the roles synced again so
Support and Operations can view stored report results (ReportResult, from 0008)."""
from django.db import migrations, models

from ledger.roles import roles_sync


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0009_usage_admin'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='usagetask',
            index=models.Index(condition=models.Q(('shortfall__gt', 0)), fields=['-shortfall', 'id'], name='ledger_usage_shortfall_idx'),
        ),
        migrations.RunPython(roles_sync, migrations.RunPython.noop),
    ]
