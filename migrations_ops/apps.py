"""App config for the data-migration framework."""
from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Credit data migrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The ledger offers registries; this app plugs its key-credits rules into them
        # (the dependency runs one way: migrations_ops -> ledger).
        from ledger.models import OwnerKind
        from ledger.services.hooks import account_write_hook_register

        from . import admin_phase, consistency  # noqa: F401  (the phase's admin page, the key_mismatch check)
        from .services.key_mirror import keys_mirror

        account_write_hook_register(owner_kind=OwnerKind.API_KEY, hook=keys_mirror)
