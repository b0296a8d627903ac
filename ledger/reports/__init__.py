"""Reports over the ledger: a registry of named reports, one module per report.

A report is a :class:`~ledger.reports.base.Report` subclass decorated with
:func:`report_register` in a module of this package; every module here is imported when the
registry is first used, so adding a report is adding one module.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import Report, ReportOutput

_REGISTRY: dict[str, type[Report]] = {}
_INFRASTRUCTURE = {"base", "sql"}
_loaded = False


def report_register(cls: type[Report]) -> type[Report]:
    """Register a report class under its ``name`` (class decorator)."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"report {cls.name!r} is registered twice ({existing.__module__}, {cls.__module__})")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name not in _INFRASTRUCTURE and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def reports_all() -> dict[str, type[Report]]:
    """Return every registered report class by name, sorted by name."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def report_get(name: str) -> Report:
    """Return an instance of the named report; KeyError names the known ones."""
    reports = reports_all()
    if name not in reports:
        raise KeyError(f"unknown report {name!r}; known: {', '.join(reports)}")
    return reports[name]()


__all__ = ["Report", "ReportOutput", "report_get", "report_register", "reports_all"]
