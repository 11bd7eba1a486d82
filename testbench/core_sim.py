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

from amaranth.lib import data

from ganforge.rtl.core import SparseCore, beat_layout
from ganforge.rtl.core.descriptor import CmdKind, Op, cmd_layout
from ganforge.rtl.core.output_stage import output_layout
from ganforge.rtl.export import to_verilog
from ganforge.testbench.runner import run_cocotb
from ganforge.testbench.streams import packer

__all__ = ["simulate", "simulate_pipeline", "core_from_config", "drain_words", "pack_program"]


def drain_words(desc):
    """Output beats a pass drains (0 when it does not drain)."""
    if not desc["drain"]:
        return 0
    wg = desc["op"] in (Op.CONV_WG, Op.TCONV_WG)
    return desc["cin"] * desc["kernel"] ** 2 if wg else desc["out_h"] * desc["out_w"]


def core_from_config(config):
    """Keyword arguments of the SparseCore of an :class:`~ganforge.config.AcceleratorConfig`."""
    return dict(lanes=config.lanes_per_core, data_width=config.data_width,
                acc_width=config.acc_width, max_kernel=config.max_kernel,
                max_stride=config.max_stride, weight_depth=config.weight_buffer_depth,
                out_depth=config.output_buffer_depth)


def pack_program(core, prog):
    """The port integers of ``prog`` for ``core`` (a :class:`SparseCore`): ``(cmd, x, drains)``.

    ``cmd`` is the command stream (each pass's DESC, then its loads), ``x`` the element
    beats of every pass in order, ``drains`` the output beats of each pass (0 if none).
    """
    pack_cmd = packer(cmd_layout(core.lanes, core.addr_bits, core.aw, core.cb, core.out_depth))
    pack_beat = packer(beat_layout(core.lanes, core.dw, core.cb))
    cmd, x, drains = [], [], []
    for p in prog.passes:
        cmd.append(pack_cmd({"kind": int(CmdKind.DESC), "desc": p.desc}))
        cmd += [pack_cmd(ld) for ld in p.loads]
        x += [pack_beat({"slot": [{"valid": v, "ci": c, "i": i, "j": j, "value": val}
                                  for v, c, i, j, val in b["slots"]], "end": b["end"]})
              for b in p.beats]
        drains.append(drain_words(p.desc))
    return cmd, x, drains


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
    return _unpack(core, res["words"], drains), res["counters"], res["cycles"]


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


def _unpack(core, words, drains):
    """The drained beats of each pass that drains (``drains``: words per pass) from raw
    output words, as :meth:`Program.assemble` takes them."""
    ol = data.ArrayLayout(output_layout(core.dw), core.lanes)
    words = iter(words)
    drained = []
    for n in drains:
        if n:
            beats = []
            for _ in range(n):
                view = ol.from_bits(next(words))
                beats.append([(int(view[l].value), int(view[l].mask)) for l in range(core.lanes)])
            drained.append(beats)
    return drained


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
    unit = [_unpack(top.unit, w, d) for w, d in zip(res["unit_words"], drains["unit"])]
    core = [_unpack(top.core, w, d) for w, d in zip(res["core_words"], drains["core"])]
    return unit, core, res
