#!/usr/bin/env bash
# Regenerate every table and figure of the paper by executing the numbered notebooks with papermill.
#
#   ./run_all.sh --profile smoke            # whole pipeline on a CPU in minutes (synthetic data)
#   ./run_all.sh --profile paper            # full reproduction (downloads ~15 GB, needs a GPU)
#   ./run_all.sh --profile smoke --only 04  # rerun one notebook (repeat --only for more)
#   ./run_all.sh --profile paper -p authors_checkpoint True   # pass a parameter to every notebook
#   ./run_all.sh --profile paper --insist   # paper profile without a GPU (shows the time estimate first)
#   ./run_all.sh --profile paper --data-root /data/dcase2020   # a DCASE tree you already have: counts
#                                           # checked, no download (--check-content: WAV headers too)
#   ./run_all.sh --profile paper --precision bf16   # opt in to bf16 autocast (the authors: fp32)
#   ./run_all.sh --profile paper --seeds 3   # seeds per compared method in notebook 07 (the
#                                           # proposed model and the four peers; paper default 1,
#                                           # smoke 2); the preflight estimate counts them
#   ./run_all.sh --profile paper --overrides '{"train.epochs": 2}'   # settings for every run
#                                           # (JSON, same as ASD_RUN_OVERRIDES; for rehearsals)
#   ./run_all.sh --profile smoke --student  # execute the student edition (notebooks/student/) as
#                                           # handed out, after a normal run: every checker must
#                                           # say "not yet"; copies in results/<profile>/student/
#
# Everything goes under results/<profile>/: executed notebooks (notebooks/*.ipynb, and the same as
# HTML pages in html/*.html, readable in a browser without Jupyter), tables (CSV, Markdown,
# LaTeX), figures (PNG, PDF) and REPORT.md. Stops at the first failing notebook, names it and
# keeps its executed copy (and its HTML page) with the traceback.
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,/^set -e/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }
PROFILE=""; ONLY=(); PARAMS=(); INSIST=0; DATA_ROOT=""; CHECK_CONTENT=0; STUDENT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:?--profile needs smoke or paper}"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --only) ONLY+=("${2:?--only needs a notebook number, e.g. 04}"); shift 2 ;;
    -p|--parameter) PARAMS+=(-p "${2:?-p needs NAME VALUE}" "${3:?-p needs NAME VALUE}"); shift 3 ;;
    --insist) INSIST=1; shift ;;
    --data-root) DATA_ROOT="${2:?--data-root needs a folder}"; shift 2 ;;
    --check-content) CHECK_CONTENT=1; shift ;;
    --student) STUDENT=1; shift ;;
    --precision) export ASD_PRECISION="${2:?--precision needs fp32 or bf16}"; shift 2
                 case "$ASD_PRECISION" in fp32|bf16) ;; *) echo "run_all.sh: --precision $ASD_PRECISION: expected fp32 or bf16" >&2; exit 2 ;; esac ;;
    --overrides) export ASD_RUN_OVERRIDES="${2:?--overrides needs a JSON object}"; shift 2 ;;
    --seeds) export ASD_SEEDS="${2:?--seeds needs a number}"; shift 2
             case "$ASD_SEEDS" in ''|*[!0-9]*|0) echo "run_all.sh: --seeds $ASD_SEEDS: expected a whole number >= 1" >&2; exit 2 ;; esac ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PROFILE" in
  smoke|paper) ;;
  "") echo "run_all.sh: give --profile smoke or --profile paper" >&2; exit 2 ;;
  *) echo "run_all.sh: unknown profile '$PROFILE' (smoke or paper)" >&2; exit 2 ;;
esac

if [ -n "$DATA_ROOT" ]; then
  [ -d "$DATA_ROOT" ] || { echo "run_all.sh: --data-root $DATA_ROOT is not a folder" >&2; exit 2; }
  export ASD_DCASE_DIR="$(cd "$DATA_ROOT" && pwd)"   # read by asdlib.paths.dcase_dir()
fi

source scripts/ensure_env.sh
# Threads waiting for work spin only briefly before they sleep (OpenMP reads this at start):
# GOMP_SPINCOUNT=3000 keeps a run alone nearly as fast as OpenMP's default (which spins ~300,000
# times) and two runs sharing the cores far faster than the default (benchmarks/REPORT.md, 8).
# An OMP_WAIT_POLICY of your own (e.g. PASSIVE: sleep at once) takes precedence.
[ -n "${OMP_WAIT_POLICY:-}" ] || export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-3000}"
STARTED=$(date +%s)
OUT="$("$PY" -c 'import sys; from asdlib.paths import results_dir; print(results_dir(sys.argv[1]))' "$PROFILE")"
NOTEBOOKS=(notebooks/[0-9][0-9]_*.ipynb)
if [ "$STUDENT" = 1 ]; then
  # The student edition reuses the trained runs (a link) and writes its tables, figures and
  # executed notebooks under results/<profile>/student/, leaving the instructor's results alone.
  [ -d "$OUT/runs" ] || { echo "run_all.sh: --student needs a finished run first: ./run_all.sh --profile $PROFILE" >&2; exit 2; }
  STAGE="$OUT/student"
  mkdir -p "$STAGE/results/$PROFILE"
  ln -sfn "$OUT/runs" "$STAGE/results/$PROFILE/runs"
  export ASD_RESULTS_DIR="$STAGE/results"
  OUT="$STAGE"
  NOTEBOOKS=(notebooks/student/[0-9][0-9]_*.ipynb)
fi
mkdir -p "$OUT/notebooks" "$OUT/html"
EDITION=instructor; [ "$STUDENT" = 1 ] && EDITION=student   # check the edition this run executes
"$PY" scripts/build_notebooks.py --check --edition "$EDITION" >/dev/null || "$PY" scripts/build_notebooks.py >/dev/null

PRE=(preflight --profile "$PROFILE"); [ "$INSIST" = 1 ] && PRE+=(--insist)
[ "$CHECK_CONTENT" = 1 ] && PRE+=(--check-content)
"$PY" -m asdlib "${PRE[@]}"
[ "$INSIST" = 1 ] && PARAMS+=(-p insist True)

TIMES="$OUT/run_times.csv"   # seconds per notebook and in all (scripts/record_run_times.py)
echo "item,seconds" > "$TIMES"
SELECTED=()
for nb in "${NOTEBOOKS[@]}"; do
  base="$(basename "$nb")"; num="${base:0:2}"
  if [ ${#ONLY[@]} -gt 0 ]; then
    keep=0; for o in "${ONLY[@]}"; do [ "$(printf '%02d' "$((10#$o))")" = "$num" ] && keep=1; done
    [ "$keep" = 1 ] || continue
  fi
  SELECTED+=("$nb")
done
# one Python process executes them all (each in a fresh kernel) and writes their HTML pages
if [ ${#SELECTED[@]} -gt 0 ]; then
  "$PY" scripts/run_notebooks.py --out "$OUT" --times "$TIMES" --profile "$PROFILE" \
      "${PARAMS[@]}" "${SELECTED[@]}" || exit 1
fi

echo "total,$(( $(date +%s) - STARTED ))" >> "$TIMES"
if [ "$STUDENT" = 1 ]; then
  "$PY" scripts/check_student_run.py "$OUT/notebooks"
  echo "Student edition done in $(( $(date +%s) - STARTED )) s: $OUT/notebooks/"
  exit 0
fi
"$PY" -m asdlib report --profile "$PROFILE" --started-at "$STARTED"
echo "All done in $(( $(date +%s) - STARTED )) s. Results: $OUT/ (report: $OUT/REPORT.md)"
