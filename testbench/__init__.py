"""ganforge.testbench: cocotb testbenches, bus and memory models, and the one runner that builds
and simulates generated Verilog.

The rest of the package reaches a simulation only through the names exported
here: :func:`run_bench` (the runner every bench goes through), the benches of
:mod:`~ganforge.testbench.benches` (:func:`simulate_program`,
:func:`simulate_pipeline`, :func:`run_accel_chain`, :func:`run_rolin_flow`)
and :func:`require_simulator`. They are imported on first use, so a cocotb
module importing a sibling (``streams``, ``runner``) does not load them.
"""

import importlib

_EXPORTS = {
    "run_bench": "runner", "BenchError": "runner", "SIMULATORS": "runner",
    "require_simulator": "runner",
    "simulate_program": "benches", "simulate_pipeline": "benches", "run_core_faults": "benches",
    "run_accel_chain": "benches", "run_rolin_flow": "benches", "FULL_CUT": "benches",
    "run_system_layers": "benches", "run_train_steps": "benches", "run_retrain_steps": "benches",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
