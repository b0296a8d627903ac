"""Write hooks: what another app must write in the same transaction as a ledger write.

Some accounts have a twin outside the ledger while a migration is under way: an API key's
account and the legacy ``keys`` row its credits came from, which the key credits guide's
``dual`` phase keeps equal. The app that owns the twin registers a hook for that owner kind
in its ``AppConfig.ready()``; every ledger write that moves such an account's balance or
refill stamp calls it, inside the write's transaction, with the ids of the accounts
written. A hook that fails fails the write. The ledger knows nothing of the hooks' apps
(they depend on it, never the other way).

Accounts of other owner kinds cost nothing: a lookup of the kind the writer already read
with its lock (the posting core, set-based writes), or, for the one-statement debit, an
owner-kind condition in the statement itself (debits.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from ..models import CreditAccount

Hook = Callable[[list[int]], None]
_HOOKS: dict[str, list[Hook]] = {}


def account_write_hook_register(*, owner_kind: str, hook: Hook) -> None:
    """Call ``hook(account_ids)`` after every write to accounts of ``owner_kind`` (once per
    hook, however often ready() runs)."""
    hooks = _HOOKS.setdefault(owner_kind, [])
    if hook not in hooks:
        hooks.append(hook)


def hooked_owner_kinds() -> list[str]:
    """Return the owner kinds whose writes have hooks."""
    return [kind for kind, hooks in _HOOKS.items() if hooks]


def account_written(account: CreditAccount) -> None:
    """Run the hooks of one written account (locked, in the write's transaction)."""
    for hook in _HOOKS.get(account.owner_kind, ()):
        hook([account.pk])


def accounts_written(accounts: Iterable[tuple[int, str]]) -> None:
    """Run the hooks of accounts a set-based write changed, given as (id, owner kind)
    pairs (the writer read the kinds with its lock: no query here)."""
    by_kind: dict[str, list[int]] = {}
    for pk, kind in accounts:
        if kind in _HOOKS:
            by_kind.setdefault(kind, []).append(pk)
    for kind, account_ids in by_kind.items():
        for hook in _HOOKS[kind]:
            hook(sorted(account_ids))
