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


#: The ways debit_create can run here: the one-statement ledger_debit function (PostgreSQL
#: only) and the Python posting core. Debit tests take ``debit_path`` to run through each.
DEBIT_PATHS = ["fast", "python"] if connection.vendor == "postgresql" else ["python"]


@pytest.fixture(params=DEBIT_PATHS)
def debit_path(request, settings):
    """Run the test with debit_create on each path (settings.LEDGER_DEBIT_FAST_PATH)."""
    settings.LEDGER_DEBIT_FAST_PATH = request.param == "fast"
    return request.param


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
