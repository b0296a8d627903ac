"""Property-based run of schemathesis against the generated OpenAPI schema, in process.

Every operation gets a bounded, deterministic set of generated requests (authenticated,
half of them aimed at real accounts, grants and debits of the token's workspace); no
response may be a server error or break the documented schema, status codes and headers.
"""
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from creditsite.wsgi import application
from ledger.actors import Actor
from ledger.models import GrantKind
from ledger.services.api_tokens import api_token_create
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.usage import task_create
from tests.factories import AccountFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
#: Path parameters pointed at real rows for even generated values.
REAL = {"account_id": "account", "grant_id": "grant", "entry_id": "debit", "task_id": "task"}


@pytest.fixture
def no_connection_recycling():
    """Keep the test transaction's connection across requests, as Django's test client does:
    the WSGI handler would otherwise close it at the start and end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, settings, no_connection_recycling):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token_read": "100000/min", "token_write": "100000/min"}}
    actor = Actor.system("schemathesis")
    account = AccountFactory()
    grant = grant_create(account_id=account.pk, amount=10**6, kind=GrantKind.PURCHASE, actor=actor,
                         idempotency_key="fund").grant
    debit = debit_create(account_id=account.pk, amount=10, actor=actor, idempotency_key="spend").entry
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    issued = api_token_create(workspace_id=account.workspace_id, name="schemathesis",
                              abilities=["read", "debit", "grant", "complete_tasks"], actor=actor)
    return {"account": account.pk, "grant": grant.pk, "debit": debit.pk, "task": task.pk, "token": issued.raw}


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, world):
    for name, row in REAL.items():
        value = (case.path_parameters or {}).get(name)
        if isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = world[row]
    response = case.call_and_validate(headers={"Authorization": f"Bearer {world['token']}"}, checks=CHECKS)
    STATUSES.setdefault(case.operation.label, set()).add(response.status_code)


#: Status codes seen per operation, to prove the run reached the happy paths too.
STATUSES: dict[str, set[int]] = {}


def test_schemathesis_run_reached_every_operations_happy_path():
    # Runs after the parametrized test above (pytest keeps file order).
    assert STATUSES, "the schemathesis run did not run"
    assert {label for label, codes in STATUSES.items() if not codes & {200, 201}} == set(), STATUSES
