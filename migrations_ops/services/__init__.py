"""Writes of the migration framework: runs (runs.py) and per-key credits (key_credits.py)."""
