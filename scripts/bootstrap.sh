#!/usr/bin/env bash
# Create .venv and install ganforge (editable) with its pinned dependencies and every
# optional part (the extra `all`: simulators, data set, synthesis, Dask, test tools).
# Also make sure Icarus Verilog (Debian package 'iverilog') is present.
#
# Usage: bash scripts/bootstrap.sh   (run by `make venv`, `make test`, `make demo`)
# Reinstalls when pyproject.toml is newer than .venv/.ganforge-stamp.
# PYTHON selects the interpreter used to create the venv (default: python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.ganforge-stamp

say() { echo "bootstrap: $*"; }
die() { echo "error: $*" >&2; exit 1; }
# Run a command quietly; on failure show its output and stop.
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "failed: $*"
    fi
    rm -f "$log"
}

# Icarus Verilog: the default simulator of the cocotb testbenches.
if ! command -v iverilog >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        say "installing iverilog with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        quiet apt-get update -qq
        quiet apt-get install -y -qq iverilog
    else
        die "iverilog is missing: install the Debian package 'iverilog' (apt-get install iverilog)"
    fi
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: ganforge needs Python >= 3.11"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "ganforge needs Python >= 3.11, $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())')"

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMP"
fi

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    say "upgrading pip"
    quiet "$VENV/bin/python" -m pip install -q --upgrade pip
    say "installing ganforge and its pinned dependencies into $VENV (a few minutes the first time)"
    quiet "$VENV/bin/python" -m pip install -q -e ".[all]"
    touch "$STAMP"
    say "done: $VENV is ready"
fi
