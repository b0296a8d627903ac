"""Ledger models: who holds credits, the accounts, lots, entries and policies."""
from .accounts import OWNER_RELATIONS, CreditAccount, OwnerKind, RefillInterval
from .api_tokens import Ability, ApiToken, IdempotentResponse
from .audit import AuditEvent
from .entries import Allocation, EntryType, LedgerEntry
from .grant_requests import GrantRequest, GrantRequestStatus
from .grants import Grant, GrantKind
from .parties import ApiKey, Customer, Identity, Workspace
from .policies import PolicyChange, WorkspacePolicy
from .reports import DailySummary, ReportResult
from .usage import UsageStatus, UsageTask, UsageTier

__all__ = [
    "OWNER_RELATIONS",
    "Ability",
    "Allocation",
    "ApiKey",
    "ApiToken",
    "AuditEvent",
    "CreditAccount",
    "Customer",
    "DailySummary",
    "EntryType",
    "Grant",
    "GrantKind",
    "GrantRequest",
    "GrantRequestStatus",
    "IdempotentResponse",
    "Identity",
    "LedgerEntry",
    "OwnerKind",
    "PolicyChange",
    "RefillInterval",
    "UsageStatus",
    "UsageTask",
    "ReportResult",
    "UsageTier",
    "Workspace",
    "WorkspacePolicy",
]
