#!/usr/bin/env bash
# Run the whole test suite. Creates .venv (pinned packages) first when it is missing.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k metrics -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_env.sh
# Threads waiting for work spin only briefly before they sleep (OpenMP reads this at start):
# GOMP_SPINCOUNT=3000 keeps a run alone nearly as fast as OpenMP's default (which spins ~300,000
# times) and two runs sharing the cores far faster than the default (benchmarks/REPORT.md, 8).
# An OMP_WAIT_POLICY of your own (e.g. PASSIVE: sleep at once) takes precedence.
[ -n "${OMP_WAIT_POLICY:-}" ] || export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-3000}"
exec "$PY" -m pytest "$@"
