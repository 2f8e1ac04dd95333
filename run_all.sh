#!/usr/bin/env bash
# Regenerate every table and figure of the paper by executing the numbered notebooks with papermill.
#
#   ./run_all.sh --profile smoke            # whole pipeline on a CPU in minutes (synthetic data)
#   ./run_all.sh --profile paper            # full reproduction (downloads ~15 GB, needs a GPU)
#   ./run_all.sh --profile smoke --only 04  # rerun one notebook (repeat --only for more)
#   ./run_all.sh --profile paper -p authors_checkpoint True   # pass a parameter to every notebook
#   ./run_all.sh --profile paper --insist   # paper profile without a GPU (shows the time estimate first)
#
# Everything goes under results/<profile>/: executed notebooks, tables (CSV, Markdown, LaTeX),
# figures (PNG, PDF) and REPORT.md. Stops at the first failing notebook, names it and keeps
# its executed copy with the traceback.
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
PROFILE=""; ONLY=(); PARAMS=(); INSIST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:?--profile needs smoke or paper}"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --only) ONLY+=("${2:?--only needs a notebook number, e.g. 04}"); shift 2 ;;
    -p|--parameter) PARAMS+=(-p "${2:?-p needs NAME VALUE}" "${3:?-p needs NAME VALUE}"); shift 3 ;;
    --insist) INSIST=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PROFILE" in
  smoke|paper) ;;
  "") echo "run_all.sh: give --profile smoke or --profile paper" >&2; exit 2 ;;
  *) echo "run_all.sh: unknown profile '$PROFILE' (smoke or paper)" >&2; exit 2 ;;
esac

source scripts/ensure_env.sh
STARTED=$(date +%s)
OUT="results/$PROFILE"
mkdir -p "$OUT/notebooks"
"$PY" scripts/build_notebooks.py --check >/dev/null || "$PY" scripts/build_notebooks.py >/dev/null

PRE=(preflight --profile "$PROFILE"); [ "$INSIST" = 1 ] && PRE+=(--insist)
"$PY" -m asdlib.reproduction "${PRE[@]}"
[ "$INSIST" = 1 ] && PARAMS+=(-p insist True)

NOTEBOOKS=(notebooks/[0-9][0-9]_*.ipynb)
for nb in "${NOTEBOOKS[@]}"; do
  base="$(basename "$nb")"; num="${base:0:2}"
  if [ ${#ONLY[@]} -gt 0 ]; then
    keep=0; for o in "${ONLY[@]}"; do [ "$(printf '%02d' "$((10#$o))")" = "$num" ] && keep=1; done
    [ "$keep" = 1 ] || continue
  fi
  echo "=== [$PROFILE] $base"
  t0=$(date +%s)
  if ! "$PY" -m papermill "$nb" "$OUT/notebooks/$base" -p profile "$PROFILE" "${PARAMS[@]}" \
        --kernel python3 --log-level WARNING; then
    echo "FAILED: notebook $base (profile $PROFILE). Executed copy with the traceback: $OUT/notebooks/$base" >&2
    exit 1
  fi
  echo "=== [$PROFILE] $base done in $(( $(date +%s) - t0 )) s"
done

"$PY" -m asdlib.reproduction report --profile "$PROFILE" --started-at "$STARTED"
echo "All done in $(( $(date +%s) - STARTED )) s. Results: $OUT/ (report: $OUT/REPORT.md)"
