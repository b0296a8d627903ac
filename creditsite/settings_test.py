"""Settings for the test suite: the production settings (DEBUG off), with a fixed secret
key and plain HTTP, which the test client, live servers and browser tests speak."""
import os

# Before the import: the production settings refuse to load without a key.
os.environ.setdefault("SECRET_KEY", "tests-only-insecure-secret-key")

from .settings import *  # noqa: E402, F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
