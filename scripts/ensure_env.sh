#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv when it is missing or stale.
# Stale = requirements.txt, constraints.txt, pyproject.toml or ASD_TORCH_INDEX_URL changed since
# the last install.
# Usage: source scripts/ensure_env.sh   (sets PY to the venv's python)
#
# CPU-only install: set ASD_TORCH_INDEX_URL to a PyTorch wheel index, e.g.
#   ASD_TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu ./run_tests.sh
# torch and torchaudio are then installed first from that index (pip --index-url), at the
# versions the lock pins (-c constraints.txt: torch==2.9.1 also matches the index's 2.9.1+cpu),
# and everything else from PyPI as usual. Setting or changing the variable refreshes the
# environment; an environment keeps its torch build when the variable is unset again (delete
# .venv to go back to PyPI's torch).
# This file is sourced: the strict options below hold while it runs, then the caller's come back
# (a shell that sourced it by hand would otherwise exit at its next failing command).
_ASD_CALLER_OPTS=""
for _asd_opt in errexit nounset pipefail; do  # read here, not in $(...), where errexit is off
  if shopt -qo "$_asd_opt"; then _ASD_CALLER_OPTS+="set -o $_asd_opt; "; else _ASD_CALLER_OPTS+="set +o $_asd_opt; "; fi
done
unset _asd_opt
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ASD_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"
STAMP="$VENV/.asdlib-install-stamp"
TORCH_INDEX="${ASD_TORCH_INDEX_URL:-}"
WANT="$( (cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" "$ROOT/pyproject.toml"
          [ -z "$TORCH_INDEX" ] || echo "torch index: $TORCH_INDEX") | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[env] creating $VENV with $($PYTHON_BIN --version)"
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[env] installing pinned packages (constraints.txt keeps torch==2.9.1 with torchaudio==2.9.1)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  if [ -n "$TORCH_INDEX" ]; then
    echo "[env] torch and torchaudio from $TORCH_INDEX (ASD_TORCH_INDEX_URL), pinned by constraints.txt"
    "$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall --index-url "$TORCH_INDEX" \
      -c "$ROOT/constraints.txt" torch torchaudio
  fi
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" -r "$ROOT/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$WANT" > "$STAMP"
fi
PY="$VENV/bin/python"
export PY
eval "$_ASD_CALLER_OPTS"
unset _ASD_CALLER_OPTS
