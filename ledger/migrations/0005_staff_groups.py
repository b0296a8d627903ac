"""Create the Support and Operations groups (see ledger/roles.py).

Operations also gets migrations_ops.run_migrations / rollback_migrations if they exist when
this runs; otherwise a later migration of migrations_ops calls ``roles_sync`` again.
"""
from django.db import migrations

from ledger.roles import roles_sync


def groups_remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Support", "Operations"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("ledger", "0004_grant_requests_admin_indexes"),
    ]

    operations = [migrations.RunPython(roles_sync, groups_remove)]
