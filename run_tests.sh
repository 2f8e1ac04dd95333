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
# The tests run in one pytest worker per usable core (pytest-xdist; each worker's torch threads
# are its share of the cores, tests/conftest.py); the tests of one file share one worker (each
# module fixture is built once), and the files go out in the order tests/conftest.py gives them
# (--no-loadscope-reorder): those with a long test (marked slow) first, so that no long file is
# left to run alone at the end.
# ASD_TEST_WORKERS=1, or -n/-p no:xdist of your own, runs them in one process.
WORKERS="${ASD_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
case "$WORKERS" in ''|*[!0-9]*|0) echo "run_tests.sh: ASD_TEST_WORKERS=$WORKERS: expected a whole number >= 1" >&2; exit 2 ;; esac
PARALLEL=(-n "$WORKERS" --dist loadfile --no-loadscope-reorder)
for arg in "$@"; do
  case "$arg" in -n|-n[0-9]*|--numprocesses*|xdist|no:xdist) PARALLEL=() ;; esac
done
[ "$WORKERS" -gt 1 ] || PARALLEL=()
exec "$PY" -m pytest ${PARALLEL[@]+"${PARALLEL[@]}"} "$@"
