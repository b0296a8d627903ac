#!/usr/bin/env bash
# Run the whole suite on DATABASE_URL (SQLite when unset). Extra args go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== tests on ${DATABASE_URL:-SQLite (DATABASE_URL unset)}"
.venv/bin/pytest "$@"
status=$?
# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
exit $status
