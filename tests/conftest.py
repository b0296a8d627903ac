"""Shared fixtures. The suite runs on the database in DATABASE_URL (SQLite when unset)."""
import pytest
from django.db import connection

from ledger.actors import Actor

from .factories import AccountFactory, StaffFactory, WorkspaceFactory


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``postgres`` when the suite runs on another database."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def actor():
    return Actor.system("tests")


@pytest.fixture
def workspace(db):
    return WorkspaceFactory()


@pytest.fixture
def account(db, workspace):
    return AccountFactory(workspace=workspace)


@pytest.fixture
def staff_actor(db):
    return Actor.staff(StaffFactory())


@pytest.fixture(scope="session", autouse=True)
def stray_connections_closed(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions that threads or child processes
    (workers, killed migration runs) may still hold on it, so teardown never fails and the
    next run starts clean."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
