"""Ledger services: the only code that writes ledger rows. Each public service is one
durable transaction with the account row locked, and takes an idempotency key."""
