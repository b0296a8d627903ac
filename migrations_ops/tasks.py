"""Celery tasks: execute and roll back runs started from the admin. They take ids."""
from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from ledger.actors import Actor

from .exceptions import MigrationOpsError
from .services import rollbacks, runs

logger = logging.getLogger(__name__)


def _actor(user_id: int | None) -> Actor:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return Actor.staff(user) if user is not None else Actor.system("migrations_worker")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_execute_task(run_id: int, user_id: int | None = None) -> str:
    """Execute (or resume) a run to its end; a killed worker's redelivery resumes it."""
    try:
        run = runs.run_execute(run_id=run_id, actor=_actor(user_id))
    except MigrationOpsError as error:
        logger.warning("migration run %s refused: %s", run_id, error.message)
        return "refused"
    except Exception:
        logger.exception("migration run %s failed", run_id)  # the run row holds the error
        return "failed"
    return run.status


@shared_task(acks_late=True)
def run_rollback_task(run_id: int, user_id: int | None, reason: str, settle: str | None = None) -> str:
    """Roll a run back from its records (each step idempotent, so redelivery is safe)."""
    try:
        rollbacks.run_rollback(run_id=run_id, actor=_actor(user_id), reason=reason, settle=settle)
    except MigrationOpsError as error:
        logger.warning("rollback of run %s refused: %s", run_id, error.message)
        return "refused"
    return "rolled_back"
