"""The back-office roles (auth groups) and the permissions each one holds.

Support looks at everything in the ledger and grants credits (up to
``settings.CREDITS_SUPPORT_GRANT_LIMIT`` per grant; more becomes a grant request).
Operations holds every ledger permission, including approving grant requests and repairs,
and runs and rolls back data migrations.

:func:`roles_sync` is called by data migrations with the historical ``apps``; it is
idempotent and only adds permissions that exist at that point, so an app that declares its
permissions later (``migrations_ops``) calls it again from one of its own migrations.
"""
from __future__ import annotations

SUPPORT = "Support"
OPERATIONS = "Operations"

#: Custom ledger permissions (CreditAccount.Meta.permissions, UsageTask.Meta.permissions).
LEDGER_ACTIONS = (
    "grant_credits",
    "adjust_credits",
    "void_credits",
    "refund_credits",
    "approve_grant_requests",
    "repair_accounts",
    "charge_usage",  # declared on UsageTask: charge a task now, release a hold (admin actions)
)

#: Permissions of other apps that Operations gets once they exist.
MIGRATION_PERMISSIONS = (
    ("migrations_ops", "run_migrations"),
    ("migrations_ops", "rollback_migrations"),
    ("migrations_ops", "view_keycreditssetting"),
    ("migrations_ops", "change_keycreditssetting"),  # the key-credits phase
)


def _ensure_permissions(apps) -> None:
    """Create content types and permissions now: in a fresh database they are normally
    made by post_migrate, after every migration has run."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions skips.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original


def roles_sync(apps, schema_editor=None) -> None:
    """Create the Support and Operations groups and give them their permissions."""
    _ensure_permissions(apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    ledger = permission_model.objects.filter(content_type__app_label="ledger")
    support, _ = group_model.objects.get_or_create(name=SUPPORT)
    support.permissions.add(*ledger.filter(codename__startswith="view_"), *ledger.filter(codename="grant_credits"))
    operations, _ = group_model.objects.get_or_create(name=OPERATIONS)
    operations.permissions.add(*ledger)
    for app_label, codename in MIGRATION_PERMISSIONS:
        operations.permissions.add(
            *permission_model.objects.filter(content_type__app_label=app_label, codename=codename)
        )
