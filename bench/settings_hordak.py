"""Settings for the django-hordak baseline: the project's own, plus hordak and its apps.

Bench only (``bench/requirements.txt``); the application never loads hordak.
"""
from creditsite.settings import *  # noqa: F401,F403
from creditsite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "mptt", "djmoney", "hordak"]

# One currency, like a credits ledger: hordak checks each leg's currency against its account.
CURRENCIES = ["EUR"]
DEFAULT_CURRENCY = "EUR"
HORDAK_CURRENCIES = ["EUR"]
HORDAK_DEFAULT_CURRENCY = "EUR"
HORDAK_INTERNAL_CURRENCY = "EUR"
