"""Run a firmware :class:`~ganforge.firmware.compiler.core_program.Program` on the generated
Verilog of a :class:`~ganforge.rtl.core.SparseCore`, under cocotb.

:func:`simulate` packs the program into port integers (``amaranth.lib.data``
layouts), runs ``testbench/tb_core.py`` on Icarus or Verilator, unpacks the
drained outputs per pass and returns them with the core's counters and the
cycle count. ``throttle=True`` drops ``valid``/``ready`` at random on every
stream. Benchmarks run with it off.
"""

import json
import os
import tempfile

from ganforge.firmware.compiler.encode import pack_program, unpack_drained
from ganforge.rtl.core import SparseCore
from ganforge.rtl.export import to_verilog
from ganforge.testbench.runner import run_cocotb

__all__ = ["simulate", "simulate_pipeline"]


#: The core and its Verilog per configuration, kept for the process: converting a 16-lane
#: core takes longer than simulating most layers.
_CORES = {}


def simulate(prog, core_kwargs, *, sim="verilator", throttle=True, seed=0, waves=None,
             build_root="build/sim", quiet=False, component=SparseCore):
    """Run ``prog``; return ``(drained, counters, cycles)``.

    ``component`` is :class:`SparseCore` or a component with its ports, such as
    :class:`~ganforge.rtl.eors.EorsUnit`, built with ``core_kwargs``.

    ``drained`` is, for every pass that drains, its output beats, each a list
    of ``(value, mask)`` per lane, as :meth:`Program.assemble` takes them.
    """
    key = (component.__name__, *sorted(core_kwargs.items()))
    if key not in _CORES:
        core = component(**core_kwargs)
        _CORES[key] = core, to_verilog(core, "sparse_core")
    core, verilog = _CORES[key]
    cmd, x, drains = pack_program(core, prog)
    budget = 10000 + 40 * (len(cmd) + 30 * len(x) + sum(drains))
    args = {"cmd": cmd, "x": x, "words": sum(drains), "seed": seed,
            "idle": 0.25 if throttle else 0.0,
            "stall": 0.25 if throttle else 0.0,
            "timeout_cycles": budget if throttle else None}
    res = _run_bench(core, verilog, "sparse_core", "ganforge.testbench.tb_core", args, sim=sim,
                     build_root=build_root, waves=waves, quiet=quiet)
    return unpack_drained(core, res["words"], drains), res["counters"], res["cycles"]


def _run_bench(top, verilog, toplevel, module, args, *, sim, build_root, waves, quiet):
    """Run the cocotb bench ``module`` on ``top`` with ``args``; return the JSON result it
    writes to the file named by ``args["out"]`` (a temporary file made here)."""
    fd, out_path = tempfile.mkstemp(suffix=".json", prefix=f"{toplevel}-")
    os.close(fd)
    try:
        run_cocotb(top, toplevel, module, sim=sim, args=dict(args, out=out_path),
                   build_root=build_root, waves=waves, quiet=quiet, verilog=verilog)
        with open(out_path) as f:
            text = f.read()
        if not text:
            raise RuntimeError(f"the {toplevel} simulation did not finish (see sim.log in the "
                               f"build directory under {build_root})")
        return json.loads(text)
    finally:
        os.unlink(out_path)


def simulate_pipeline(unit_progs, core_progs, unit_kwargs, core_kwargs, *, sim="verilator",
                      throttle=False, seed=0, waves=None, build_root="build/sim", quiet=True):
    """Run EORS overlapped with the core on an :class:`~ganforge.rtl.eors.pipeline.EorsPipeline`:
    ``unit_progs[t]`` and ``core_progs[t]`` are tile ``t``'s speculation passes and the core's
    passes with that tile's prediction as mask (``testbench/tb_eors_pipeline.py`` plays the
    schedule). Returns ``(unit_drained, core_drained, result)``: per tile, the drained beats
    of each program, and the JSON result (``cycles``, ``core_start`` per tile, ``core`` and
    ``unit`` counters).
    """
    from ganforge.rtl.eors.pipeline import EorsPipeline
    key = ("EorsPipeline", *sorted(core_kwargs.items()), *sorted(unit_kwargs.items()))
    if key not in _CORES:
        top = EorsPipeline(core=core_kwargs, unit=unit_kwargs)
        _CORES[key] = top, to_verilog(top, "eors_pipeline")
    top, verilog = _CORES[key]
    tiles = {"unit": [], "core": []}
    drains = {"unit": [], "core": []}
    for name, dut, progs in (("unit", top.unit, unit_progs), ("core", top.core, core_progs)):
        for prog in progs:
            cmd, x, d = pack_program(dut, prog)
            tiles[name].append({"cmd": cmd, "x": x, "words": sum(d)})
            drains[name].append(d)
    n_words = sum(len(t["cmd"]) + 30 * len(t["x"]) + t["words"] for ts in tiles.values() for t in ts)
    args = dict(tiles, seed=seed, idle=0.25 if throttle else 0.0, stall=0.25 if throttle else 0.0,
                timeout_cycles=10000 + 40 * n_words if throttle else None)
    res = _run_bench(top, verilog, "eors_pipeline", "ganforge.testbench.tb_eors_pipeline", args,
                     sim=sim, build_root=build_root, waves=waves, quiet=quiet)
    unit = [unpack_drained(top.unit, w, d) for w, d in zip(res["unit_words"], drains["unit"])]
    core = [unpack_drained(top.core, w, d) for w, d in zip(res["core_words"], drains["core"])]
    return unit, core, res
