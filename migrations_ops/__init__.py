"""Data migrations of credit data: the framework and its built-in operations."""
