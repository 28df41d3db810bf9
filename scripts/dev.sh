#!/usr/bin/env bash
# Create or reuse the virtual environment at .venv (pinned by constraints.txt), then
#   scripts/dev.sh demo [--out DIR]   run the demonstration (the README's main job)
#   scripts/dev.sh test [PYTEST ARGS] run the test suite with pytest
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "error: nclattice needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2; exit 2; }
  "$python" -m venv .venv
fi

# reinstall only when the declared dependencies change
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
stamp=.venv/.nclattice-install
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setting up .venv (first run takes a few minutes) ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
  echo "$want" > "$stamp"
fi

export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export PREFECT_HOME="${PREFECT_HOME:-$PWD/.prefect}"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) exec .venv/bin/nclattice demo "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: scripts/dev.sh demo|test [args]" >&2; exit 2 ;;
esac
