"""The ledger: the system of record for credits."""
