"""Settings, read from the environment (12-factor).

Production is the default: with ``DEBUG`` unset, Django runs with DEBUG off, requires
``SECRET_KEY``, redirects to HTTPS, sends cookies only over HTTPS and sets HSTS
(each from the environment, see README "Configuration"). Development says so:
``DEBUG=true`` (``make run`` sets it) gives a fixed dev secret key and plain HTTP.
Databases and the broker default to what works on a laptop either way: SQLite in
``var/`` and an embedded Celery broker that needs no server.
"""
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CREDITSITE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
)

DEBUG = env("DEBUG")
#: Only with DEBUG on: a key anyone can read is no key.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment (a long random string, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set DEBUG=true for development."
    )
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS -----------------------------------------------------------------------
# Each defaults to on with DEBUG off (what `manage.py check --deploy` asks for) and off
# with DEBUG on (runserver speaks plain HTTP); each can be set on its own.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Behind a proxy that ends TLS: the header it sets and its value for HTTPS, e.g.
# "HTTP_X_FORWARDED_PROTO,https". Unset: requests are trusted as they arrive.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "ledger",
    "migrations_ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "creditsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "creditsite.wsgi.application"

# Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'creditsite.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on the
    # busy timeout instead of failing with "database is locked" mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Celery ---------------------------------------------------------------------
# The embedded default is Kombu's filesystem transport: a worker and beat on one
# machine need no broker server. Redis or RabbitMQ by URL in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        # Exchange tables: under var/ like the queue (Kombu's default is ./control).
        "control_folder": str(VAR_DIR / "celery-control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Credit policies: environment defaults, overridable per workspace in the admin.
CREDITS_INITIAL = env.int("CREDITS_INITIAL", default=100)
CREDITS_PRICE_STANDARD_PER_SECOND = env.int("CREDITS_PRICE_STANDARD_PER_SECOND", default=10)
CREDITS_PRICE_PRO_PER_SECOND = env.int("CREDITS_PRICE_PRO_PER_SECOND", default=14)
CREDITS_EXPIRY_MONTHS = env.int("CREDITS_EXPIRY_MONTHS", default=6)
CREDITS_REWARD_INVITE = env.int("CREDITS_REWARD_INVITE", default=100)
CREDITS_REWARD_DAILY_SIGNIN = env.int("CREDITS_REWARD_DAILY_SIGNIN", default=10)
CREDITS_REWARD_SHARE = env.int("CREDITS_REWARD_SHARE", default=10)
CREDITS_SHARE_DAILY_CAP = env.int("CREDITS_SHARE_DAILY_CAP", default=3)
# The most credits one Support user may grant at once without an Operations approval.
CREDITS_SUPPORT_GRANT_LIMIT = env.int("CREDITS_SUPPORT_GRANT_LIMIT", default=1000)

# REST API (ledger/api) ----------------------------------------------------------
INSTALLED_APPS += ["rest_framework", "drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ledger.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ledger.api.permissions.TokenHasAbility"],
    "DEFAULT_THROTTLE_CLASSES": ["ledger.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Per token; a shared cache (CACHES) makes the limit hold across processes.
        "token_read": env.str("CREDITS_API_RATE_READ", default="1200/min"),
        "token_write": env.str("CREDITS_API_RATE_WRITE", default="300/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "ledger.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Creditsite API",
    "DESCRIPTION": "Balances, entries, grants, debits and product users of one workspace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from static files: the docs work offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Migrations (migrations_ops) ----------------------------------------------------
# The key-credits phase (legacy, dual, credits) is not a setting: it is stored in the
# database (migrations_ops.KeyCreditsSetting), so that every process reads the same one.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, for the SQLite test database: the migration tests run
    # `migrate_credits` in subprocesses (and kill them) against it.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test_creditsite.sqlite3"))

# Usage, expiry and refills (issue 5) ---------------------------------------------
# Soft check at task creation: the account's balance must be at least this (1: positive).
CREDITS_USAGE_MIN_BALANCE = env.int("CREDITS_USAGE_MIN_BALANCE", default=1)
# When a completed task costs more than the lots hold: "debt" charges the rest into debt up
# to the account's overdraft limit; "lots" charges only what the lots hold. Either way what
# could not be charged is recorded on the task as its shortfall.
CREDITS_USAGE_OVERDRAFT = env.str("CREDITS_USAGE_OVERDRAFT", default="debt")
# A hold that is neither captured nor released is released after this many minutes.
CREDITS_USAGE_HOLD_TIMEOUT_MINUTES = env.int("CREDITS_USAGE_HOLD_TIMEOUT_MINUTES", default=120)
# Due lots read per page by the expiry job (their accounts, at most this many, form one
# transaction), and accounts refilled per batch.
CREDITS_EXPIRY_BATCH_SIZE = env.int("CREDITS_EXPIRY_BATCH_SIZE", default=2000)
CREDITS_REFILL_BATCH_SIZE = env.int("CREDITS_REFILL_BATCH_SIZE", default=500)

# Migration archives (issue 8b: drop-credit-allocations) ---------------------------
# Where operations that drop data write their compressed, checksummed archives.
# On PostgreSQL a key-credits batch of a first run is one set-based statement, records
# included (migrations_ops/operations/key_credits_sql.py); off: row by row, as elsewhere.
MIGRATIONS_SET_BASED_BATCHES = env.bool("MIGRATIONS_SET_BASED_BATCHES", default=True)
MIGRATIONS_ARCHIVE_DIR = env.str("MIGRATIONS_ARCHIVE_DIR", default=str(VAR_DIR / "archives"))

# Ledger debits (issue 9) -----------------------------------------------------------
# On PostgreSQL, debit_create runs as one statement (the ledger_debit function of ledger
# migrations 0011-0012) instead of seven; off: the Python posting core, as elsewhere.
LEDGER_DEBIT_FAST_PATH = env.bool("LEDGER_DEBIT_FAST_PATH", default=True)
# The hot path's statements (the debit) are prepared once per connection on PostgreSQL;
# off for a pooler that cannot keep prepared statements (PgBouncer < 1.21, transaction mode).
LEDGER_PREPARED_STATEMENTS = env.bool("LEDGER_PREPARED_STATEMENTS", default=True)
