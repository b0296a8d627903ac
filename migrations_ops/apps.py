"""App config for the data-migration framework."""
from django.apps import AppConfig


class MigrationsOpsConfig(AppConfig):
    name = "migrations_ops"
    verbose_name = "Credit data migrations"
    default_auto_field = "django.db.models.BigAutoField"
