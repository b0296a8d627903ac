"""The Support and Operations groups, and their later sync with migrations_ops."""
import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ledger.roles import OPERATIONS, SUPPORT, roles_sync

pytestmark = pytest.mark.django_db


def _historical_apps():
    return MigrationExecutor(connection).loader.project_state().apps


def test_operations_gets_migration_permissions_once_they_exist():
    content_type = ContentType.objects.create(app_label="migrations_ops", model="migrationrun")
    for codename in ("run_migrations", "rollback_migrations"):
        Permission.objects.create(content_type=content_type, codename=codename, name=codename)
    roles_sync(_historical_apps())
    operations = Group.objects.get(name=OPERATIONS).permissions
    assert set(operations.filter(content_type=content_type).values_list("codename", flat=True)) == {
        "run_migrations", "rollback_migrations"}
    assert not Group.objects.get(name=SUPPORT).permissions.filter(content_type=content_type).exists()


def test_roles_sync_is_idempotent():
    before = {g.name: g.permissions.count() for g in Group.objects.all()}
    roles_sync(_historical_apps())
    assert {g.name: g.permissions.count() for g in Group.objects.all()} == before
