"""Read-only questions about the ledger; nothing here writes."""
