"""Typed errors raised by ledger services: each names what was wrong, nothing is written."""
from __future__ import annotations


class LedgerError(Exception):
    """Base for every refusal of a ledger service. ``code`` is stable, for APIs."""

    code = "ledger_error"
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidInput(LedgerError):
    """A parameter breaks a rule; ``field`` names it."""

    code = "invalid"

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}", field=field)
        self.rule = rule


class InvalidAmount(InvalidInput):
    """An amount is not a whole, positive (or non-zero), finite number in range."""

    code = "invalid_amount"


class AccountNotFound(LedgerError):
    """No such account in this workspace (foreign accounts look the same as missing ones)."""

    code = "account_not_found"

    def __init__(self, account_id: object) -> None:
        super().__init__(f"account {account_id!r} does not exist", field="account")
        self.account_id = account_id


class NotFound(LedgerError):
    """A grant, entry or other object the call names does not exist for that account."""

    code = "not_found"


class InsufficientCredits(LedgerError):
    """A debit would take the account past its overdraft limit."""

    code = "insufficient_credits"

    def __init__(self, *, account_id: int, balance: int, available: int, amount: int) -> None:
        super().__init__(
            f"account {account_id} has insufficient credits: balance {balance}, "
            f"available {available}, asked {amount}",
            field="amount",
        )
        self.account_id = account_id
        self.balance = balance
        self.available = available
        self.amount = amount


class IdempotencyConflict(LedgerError):
    """An idempotency key was reused with different parameters."""

    code = "idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used with different parameters",
            field="idempotency_key",
        )
        self.key = key


class InvalidState(LedgerError):
    """The object is not in a state that allows this (e.g. refunding more than was debited)."""

    code = "invalid_state"


class NotAllowed(LedgerError):
    """The actor may not do this (e.g. approving their own grant request)."""

    code = "not_allowed"


class TaskConflict(IdempotencyConflict):
    """A usage task was already created (same external id) or completed with other
    parameters; ``field`` names the one that differs."""

    code = "task_conflict"

    def __init__(self, message: str, *, field: str, key: str) -> None:
        LedgerError.__init__(self, message, field=field)
        self.key = key
