"""Running a public ledger service inside a larger durable transaction.

Public services are ``@transaction.atomic(durable=True)``: they refuse to run nested, so
that an API view or a task can never make them part of a transaction that might roll them
back later. A few services are themselves one step of a bigger write that must commit or
fail as a whole (an approved grant request and its grant; a staff action and its audit
event). They call the service's body, the function the durable decorator wraps, inside
their own durable transaction: same rules, same idempotency, one commit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import transaction

T = TypeVar("T")


def service_body(service: Callable[..., T]) -> Callable[..., T]:
    """Return the undecorated body of a durable service; it must run in a transaction."""
    body = getattr(service, "__wrapped__", None)
    if body is None:
        raise TypeError(f"{service.__name__} is not a transaction-decorated service")

    def run(**params) -> T:
        assert transaction.get_connection().in_atomic_block, f"{service.__name__} needs a transaction"
        return body(**params)

    return run
