"""Ledger models: who holds credits, the accounts, lots, entries and policies."""
from .accounts import CreditAccount, OwnerKind, RefillInterval
from .audit import AuditEvent
from .entries import Allocation, EntryType, LedgerEntry
from .grants import Grant, GrantKind
from .parties import ApiKey, Customer, Identity, Workspace
from .policies import PolicyChange, WorkspacePolicy
from .reports import DailySummary, ReportResult

__all__ = [
    "Allocation",
    "ApiKey",
    "AuditEvent",
    "CreditAccount",
    "Customer",
    "DailySummary",
    "EntryType",
    "Grant",
    "GrantKind",
    "Identity",
    "LedgerEntry",
    "OwnerKind",
    "PolicyChange",
    "RefillInterval",
    "ReportResult",
    "Workspace",
    "WorkspacePolicy",
]
