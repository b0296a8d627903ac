"""Creditsite: a Django back office for a credits ledger."""
from .celery import app as celery_app

__all__ = ("celery_app",)
