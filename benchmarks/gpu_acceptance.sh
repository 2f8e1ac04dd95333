#!/usr/bin/env bash
# GPU acceptance for the paper profile: every stage of benchmarks/gpu_acceptance.py (CUDA, every
# paper network in fp32 and bf16 with its memory, short trainings with 4 workers, bf16 + compile,
# GPU vs CPU-only scores, kill -9 and resume, two trainings on an empty cache, torchrun DDP with
# two or more GPUs), about 8 minutes at most on one H100/H200, one JSON report.
#
#   benchmarks/gpu_acceptance.sh [REPORT.json]     # default benchmarks/gpu_acceptance_results.json
#   DRY=1 benchmarks/gpu_acceptance.sh [REPORT.json]   # the same stages on a CPU at tiny sizes
#
# PYTHON selects the interpreter (default .venv/bin/python, else python3). Exit status 0 when
# every stage passed, 1 otherwise (the report names the failed stage and its error).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-3000}"
args=(--out "${1:-benchmarks/gpu_acceptance_results.json}")
if [ "${DRY:-0}" != "0" ]; then
    args+=(--dry)
fi
exec timeout --kill-after=10 "${ACCEPTANCE_TIMEOUT:-480}" "$PY" benchmarks/gpu_acceptance.py "${args[@]}"
