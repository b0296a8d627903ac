"""App config for the ledger."""
from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Credits ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import admin_api_tokens  # noqa: F401  (registers the API token admin)
