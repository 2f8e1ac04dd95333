#!/usr/bin/env bash
# Run the whole test suite. Creates .venv (pinned packages) first when it is missing.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k metrics -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
exec "$PY" -m pytest "$@"
