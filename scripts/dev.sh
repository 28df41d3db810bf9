#!/usr/bin/env bash
# Create or reuse the virtual environment at .venv (pinned by constraints.txt), then
#   scripts/dev.sh demo [--out DIR]   run the demonstration (the README's main job)
#   scripts/dev.sh test [PYTEST ARGS] run the test suite with pytest (installs CP2K, Chromium and
#                                     Slurm first where it can, and starts a single-node Slurm on
#                                     loopback for the run, so the tests marked cp2k, browser and
#                                     slurm run rather than skip), in NCLATTICE_TEST_WORKERS (default 2)
#                                     processes (pytest-xdist), one test file per process at a
#                                     time (-n 0: one process)
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

# A program some tests need: the Debian package where we may install it, else one hint.
#   ensure_program PACKAGE MARKER HINT COMMAND...   (installed when one of the COMMANDs is on PATH)
ensure_program() {
  local package=$1 marker=$2 hint=$3 c
  shift 3
  for c in "$@"; do command -v "$c" >/dev/null && return 0; done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -f /etc/debian_version ]; then
    echo "installing $package (Debian package $package) ..." >&2
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; then
      return 0
    fi
    echo "warning: apt-get install $package failed; the tests marked $marker will be skipped" >&2
  else
    echo "note: $package is not installed; tests marked $marker will be skipped (install it with $hint)" >&2
  fi
}
# CP2K: the DFT backend of spin-relax
ensure_cp2k() {
  ensure_program cp2k cp2k "'sudo apt-get install cp2k' on Debian/Ubuntu, 'conda install -c conda-forge cp2k' \
or see https://www.cp2k.org/download" cp2k cp2k.psmp cp2k.ssmp cp2k.popt
}
# Chromium (headless): the campaign report checked in a browser
ensure_chromium() {
  ensure_program chromium browser "'sudo apt-get install chromium' on Debian/Ubuntu" chromium chromium-browser
}

# Slurm (the tests marked slurm): Debian's slurm-wlm where we may install it, then a single-node
# cluster on loopback (scripts/slurm-local.sh) for the duration of the tests
ensure_slurm() {
  ensure_program slurm-wlm slurm "'sudo apt-get install slurm-wlm' (see docs/cluster.md)" slurmctld
  command -v slurmctld >/dev/null || return 0
  [ "$(id -u)" = 0 ] || { echo "note: the local Slurm needs root; tests marked slurm will be skipped" >&2; return 0; }
  local line
  if [ -z "${SLURM_CONF:-}" ] && line=$(bash scripts/slurm-local.sh start); then
    trap 'bash scripts/slurm-local.sh stop' EXIT
    SLURM_CONF=${line#export SLURM_CONF=}   # the configuration's path as the script prints it
    export SLURM_CONF
  fi
}

export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export PREFECT_HOME="${PREFECT_HOME:-$PWD/.prefect}"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) exec .venv/bin/nclattice demo "$@" ;;
  test)
    ensure_cp2k
    ensure_chromium
    if [ "${1:-}" = --version ]; then exec .venv/bin/python -m pytest "$@"; fi
    ensure_slurm
    # not exec: the EXIT trap stops the local Slurm
    .venv/bin/python -m pytest -n "${NCLATTICE_TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  *) echo "usage: scripts/dev.sh demo|test [args]" >&2; exit 2 ;;
esac
