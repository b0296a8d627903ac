#!/usr/bin/env bash
# Lint, then run the whole suite on DATABASE_URL (SQLite when unset). Extra args go to pytest.
# Any failure exits non-zero, including pytest's 5 for "no tests collected".
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== lint (ruff)"
.venv/bin/ruff check .
echo "== tests on ${DATABASE_URL:-SQLite (DATABASE_URL unset)}"
exec .venv/bin/pytest "$@"
