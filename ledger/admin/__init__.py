"""The back office: Django admin for support and operations staff.

Every write goes through a service in ``ledger.services``; these classes only parse,
confirm, call and report. Modules: ``accounts`` (list and account page), ``entries``
(read-only, CSV export), ``grants`` (lots, grant requests), ``audit`` (audit page,
policy history), ``reports`` (stored report results), ``parties`` (workspaces and
owners), ``policies`` and ``actions`` (the confirmed staff actions), ``usage`` (usage tasks:
charge now, release hold).
"""
from django.contrib import admin

from . import accounts, audit, entries, grants, parties, reports, usage  # noqa: F401  (registers the models)

admin.site.site_header = "Creditsite back office"
admin.site.site_title = "Creditsite"
admin.site.index_title = "Credits ledger"
