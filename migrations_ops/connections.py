"""Database connections given at run time by DSN (``--primary-dsn``, ``--readonly-dsn``)."""
from __future__ import annotations

import warnings

import environ
from django.db import connections

from .exceptions import InvalidParams

READONLY_ALIAS = "migrations_readonly"
_SCHEMES = {"postgres", "postgresql", "pgsql", "mysql", "sqlite"}


def dsn_parse(dsn: str, *, option: str) -> dict:
    """Return Django DATABASES settings for a postgres://, mysql:// or sqlite:// DSN;
    a malformed one raises InvalidParams naming the option (the password is never shown)."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else ""
    if scheme not in _SCHEMES:
        raise InvalidParams(f"{option}: expected postgres://, mysql:// or sqlite:// DSN, got scheme {scheme or 'none'!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            config = environ.Env.db_url_config(dsn)
        except Exception as error:  # django-environ raises assorted errors on bad URLs
            raise InvalidParams(f"{option}: malformed DSN ({type(error).__name__})") from None
    if not config.get("NAME") or (scheme != "sqlite" and not config.get("HOST")):
        raise InvalidParams(f"{option}: the DSN needs a host and a database name")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
    return config


def _with_defaults(alias: str, config: dict) -> dict:
    merged = {"default": dict(connections.databases["default"]), alias: config}
    return connections.configure_settings(merged)[alias]


def dsn_register(*, alias: str, dsn: str, option: str) -> str:
    """Register (or replace) a connection alias from a DSN and check that it connects."""
    config = _with_defaults(alias, dsn_parse(dsn, option=option))
    if alias in connections.databases:
        connections[alias].close()
        if hasattr(connections._connections, alias):
            delattr(connections._connections, alias)
    connections.databases[alias] = config
    try:
        connections[alias].ensure_connection()
    except Exception as error:
        raise InvalidParams(f"{option}: cannot connect ({str(error).splitlines()[0][:200]})") from None
    return alias


def primary_use(dsn: str) -> None:
    """Point the default connection of this process at the primary DSN: runs, records
    and every ledger write go there."""
    dsn_register(alias="default", dsn=dsn, option="--primary-dsn")
