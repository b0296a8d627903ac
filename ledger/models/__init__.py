"""Ledger models: who holds credits, the accounts, lots, entries and policies."""
from .accounts import CreditAccount, OwnerKind, RefillInterval
from .audit import AuditEvent
from .entries import Allocation, EntryType, LedgerEntry
from .grants import Grant, GrantKind
from .grant_requests import GrantRequest, GrantRequestStatus
from .parties import ApiKey, Customer, Identity, Workspace
from .policies import PolicyChange, WorkspacePolicy

__all__ = [
    "Allocation",
    "ApiKey",
    "AuditEvent",
    "CreditAccount",
    "Customer",
    "EntryType",
    "Grant",
    "GrantKind",
    "GrantRequest",
    "GrantRequestStatus",
    "Identity",
    "LedgerEntry",
    "OwnerKind",
    "PolicyChange",
    "RefillInterval",
    "Workspace",
    "WorkspacePolicy",
]
