#!/usr/bin/env bash
# Bring up Creditsite on this machine: migrate, load demo data, then the admin, a Celery
# worker and the beat scheduler. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo is development: DEBUG on (a dev secret key, plain HTTP). Production leaves it unset.
export DEBUG="${DEBUG:-true}"
PY=.venv/bin/python
CELERY=.venv/bin/celery
mkdir -p var/log

$PY manage.py migrate --noinput
$PY manage.py demo_setup
$PY manage.py seed_legacy --demo                  # a legacy table set for each built-in operation
$PY manage.py credits_summary_refresh --days 90   # the overview's charts read this summary

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

$CELERY -A creditsite worker --loglevel=INFO --pool=solo >var/log/worker.log 2>&1 &
pids+=($!)
$CELERY -A creditsite beat --loglevel=INFO --pidfile= >var/log/beat.log 2>&1 &
pids+=($!)
echo "worker and beat started (logs in var/log/); admin at http://127.0.0.1:${PORT:-8000}/admin/"
$PY manage.py runserver "127.0.0.1:${PORT:-8000}" --noreload
