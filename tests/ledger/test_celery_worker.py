"""End to end: a real Celery worker process on Redis and the PostgreSQL test database
completes a task delivered twice through the queue and charges it exactly once."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from creditsite.celery import app
from ledger.actors import Actor
from ledger.models import EntryType, GrantKind, LedgerEntry, UsageTask
from ledger.services.grants import grant_create
from ledger.services.usage import task_create

REDIS_URL = os.environ.get("CREDITSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
ROOT = Path(__file__).resolve().parents[2]


def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


def database_url_of_test_db() -> str:
    settings = connection.settings_dict
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"postgres://{auth}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def wait_for(condition, *, seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds or the deadline passes."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def worker(tmp_path):
    client = redis_client()
    client.flushdb()
    env = os.environ | {
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": REDIS_URL,
        "CREDITSITE_VAR_DIR": str(tmp_path),
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "creditsite", "worker", "--pool=prefork", "--concurrency=2",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield client
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    client.flushdb()
    connection.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_charges_a_task_completed_twice_through_the_queue_once(workspace, account, worker):
    actor = Actor.system("e2e")
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="fund")
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    with app.connection_for_write(REDIS_URL) as broker:
        for _ in range(2):
            app.send_task("ledger.tasks.usage_task_complete", args=[task.pk, "5.0"], connection=broker)

    def settled():
        done = UsageTask.objects.filter(pk=task.pk, credits_deducted=True).exists()
        return done and worker.llen("celery") == 0 and worker.hlen("unacked") == 0

    wait_for(settled, seconds=90, what="the worker to process both deliveries")
    account.refresh_from_db()
    assert account.balance == 430
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.DEBIT).count() == 1
