"""Production is the default: the settings as a fresh process reads them from the environment."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The production environment README.md documents ("Configuration", production), with
#: placeholder values: `check --deploy` connects to neither the database nor the broker.
PRODUCTION = {
    "SECRET_KEY": "k3Vq9-placeholder-Zr7uT1mW4yB8nE2cH6jL0pS5dF9gA3xK7vQ1",
    "ALLOWED_HOSTS": "credits.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://credits.example.com",
    "DATABASE_URL": "postgres://creditsite@db.example.internal:5432/creditsite",
    "CELERY_BROKER_URL": "redis://redis.example.internal:6379/0",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
}


def manage(*args, env, tmp_path):
    """Run manage.py in a process of its own with only ``env`` (and PATH) set."""
    environment = {"PATH": os.environ.get("PATH", ""), "CREDITSITE_VAR_DIR": str(tmp_path), **env}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def settings_values(*names, env, tmp_path):
    """The repr of each named setting, as a process started with ``env`` reads it."""
    code = f"from django.conf import settings\nfor name in {names!r}: print(repr(getattr(settings, name)))"
    done = manage("shell", "-v", "0", "-c", code, env=env, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    return dict(zip(names, done.stdout.splitlines(), strict=True))


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_debug_is_off_and_https_is_required_unless_set(tmp_path):
    values = settings_values("DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                             "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER", env=PRODUCTION, tmp_path=tmp_path)
    assert values == {"DEBUG": "False", "SECURE_SSL_REDIRECT": "True", "SESSION_COOKIE_SECURE": "True",
                      "CSRF_COOKIE_SECURE": "True", "SECURE_HSTS_SECONDS": "31536000",
                      "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')"}


def test_without_a_secret_key_production_refuses_to_start_with_a_clear_error(tmp_path):
    env = {name: value for name, value in PRODUCTION.items() if name != "SECRET_KEY"}
    done = manage("check", env=env, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_each_https_setting_can_be_turned_off_from_the_environment(tmp_path):
    names = ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS")
    env = {**PRODUCTION, **dict.fromkeys(names, "false"), "SECURE_HSTS_SECONDS": "0"}
    assert settings_values(*names, env=env, tmp_path=tmp_path) == {**dict.fromkeys(names, "False"),
                                                                   "SECURE_HSTS_SECONDS": "0"}


def test_debug_on_is_development_a_dev_key_and_plain_http(tmp_path):
    values = settings_values("DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
                             "SECURE_HSTS_SECONDS", env={"DEBUG": "true"}, tmp_path=tmp_path)
    assert values == {"DEBUG": "True", "SECRET_KEY": "'dev-only-insecure-secret-key-change-me'",
                      "SECURE_SSL_REDIRECT": "False", "SESSION_COOKIE_SECURE": "False", "SECURE_HSTS_SECONDS": "0"}


def test_make_run_turns_debug_on_for_the_demo():
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert 'export DEBUG="${DEBUG:-true}"' in script
    assert script.index("export DEBUG") < script.index("manage.py migrate")

