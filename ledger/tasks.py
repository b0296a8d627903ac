"""Celery tasks: thin callers of the ledger services. They take ids, retry with backoff when
the database is unavailable, and are idempotent because the services are."""
from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .actors import Actor
from .services import expiry, refills, usage

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="ledger.tasks.usage_task_complete", **RETRY)
def usage_task_complete(task_id: int, duration_seconds: str) -> dict:
    """Record a task's success and charge it (exactly once, however often delivered)."""
    result = usage.task_complete(task_id=task_id, duration_seconds=duration_seconds, actor=Actor.system("usage"))
    task = result.task
    return {"task": task.pk, "credits": task.credits_calculated, "shortfall": task.shortfall, "replayed": result.replayed}


@shared_task(name="ledger.tasks.usage_task_fail", **RETRY)
def usage_task_fail(task_id: int, reason: str = "") -> dict:
    """Mark a task failed and release its hold; it is never charged."""
    result = usage.task_fail(task_id=task_id, reason=reason, actor=Actor.system("usage"))
    return {"task": result.task.pk, "replayed": result.replayed}


@shared_task(name="ledger.tasks.usage_charge_uncharged", **RETRY)
def usage_charge_uncharged() -> int:
    """Charge succeeded tasks whose completion charge was lost."""
    return usage.tasks_charge_uncharged(actor=Actor.system("usage-sweep"))


@shared_task(name="ledger.tasks.usage_holds_release", **RETRY)
def usage_holds_release() -> int:
    """Release holds past their timeout."""
    return usage.holds_release_expired(actor=Actor.system("usage-holds"))


@shared_task(name="ledger.tasks.credits_expire_due", **RETRY)
def credits_expire_due() -> dict:
    """Expire every due lot."""
    run = expiry.grants_expire_due(actor=Actor.system("expiry"))
    return {"lots": run.lots, "credits": run.credits, "batches": run.batches}


@shared_task(name="ledger.tasks.credits_refill_due", **RETRY)
def credits_refill_due() -> dict:
    """Refill every account that is due."""
    run = refills.accounts_refill_due(actor=Actor.system("refills"))
    return {"refilled": run.refilled, "added": run.credits_added, "removed": run.credits_removed}
