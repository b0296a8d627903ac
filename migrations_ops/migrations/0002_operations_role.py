"""Give the Operations group the migration permissions (declared by 0001 here), now that
both the groups (ledger 0005) and the permissions exist."""
from django.db import migrations

from ledger.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("migrations_ops", "0001_initial"),
        ("ledger", "0005_staff_groups"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
