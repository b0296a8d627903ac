"""The registry of operations: name -> Operation class."""
from __future__ import annotations

from ..exceptions import UnknownOperation
from .base import Operation

_OPERATIONS: dict[str, type[Operation]] = {}


def register(cls: type[Operation]) -> type[Operation]:
    """Class decorator: make the operation available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _OPERATIONS[cls.name] = cls
    return cls


def operation_get(name: str) -> Operation:
    """Return a new instance of the named operation, or raise UnknownOperation."""
    _load_builtin()
    try:
        return _OPERATIONS[name]()
    except KeyError:
        known = ", ".join(sorted(_OPERATIONS)) or "none"
        raise UnknownOperation(f"unknown operation {name!r}; known operations: {known}") from None


def operations_all() -> list[Operation]:
    """Return an instance of every registered operation, by name."""
    _load_builtin()
    return [_OPERATIONS[name]() for name in sorted(_OPERATIONS)]


def _load_builtin() -> None:
    # Importing the modules registers them; done lazily so models are ready.
    from . import (  # noqa: F401
        billing_usd_to_credits,
        drop_credit_allocations,
        expiry_backfill,
        key_credits,  # noqa: F401
        orphaned_credits,
    )
