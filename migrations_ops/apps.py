"""App config for the data-migration framework."""
from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Credit data migrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The ledger offers registries; this app plugs its key-credits rules into them
        # (the dependency runs one way: migrations_ops -> ledger).
        from . import admin_phase, consistency  # noqa: F401  (the phase's admin page, the key_mismatch check)
