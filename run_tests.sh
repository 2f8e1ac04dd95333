#!/usr/bin/env bash
# Run the whole test suite. Creates .venv (pinned packages) first when it is missing.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k metrics -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
# Threads that wait sleep instead of spinning (OpenMP reads this at start): two runs sharing
# the cores then slow each other about as much as sharing alone would (benchmarks/REPORT.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$PY" -m pytest "$@"
