"""Ledger models: who holds credits, the accounts, lots, entries and policies."""
from .accounts import CreditAccount, OwnerKind, RefillInterval
from .audit import AuditEvent
from .entries import Allocation, EntryType, LedgerEntry
from .grants import Grant, GrantKind
from .parties import ApiKey, Customer, Identity, Workspace
from .policies import PolicyChange, WorkspacePolicy
from .usage import UsageStatus, UsageTask, UsageTier

__all__ = [
    "Allocation",
    "ApiKey",
    "AuditEvent",
    "CreditAccount",
    "Customer",
    "EntryType",
    "Grant",
    "GrantKind",
    "Identity",
    "LedgerEntry",
    "OwnerKind",
    "PolicyChange",
    "RefillInterval",
    "UsageStatus",
    "UsageTask",
    "UsageTier",
    "Workspace",
    "WorkspacePolicy",
]
