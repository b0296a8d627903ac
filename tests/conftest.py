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
