"""Run a firmware :class:`~ganforge.firmware.core_driver.Program` on the generated
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

from ganforge.rtl.core import SparseCore, beat_layout, load_layout
from ganforge.rtl.descriptor import Op, descriptor_layout
from ganforge.rtl.output_stage import output_layout
from ganforge.testbench.runner import run_cocotb

__all__ = ["simulate", "core_from_config", "drain_words"]


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


def _pack_program(core, prog):
    ll = load_layout(core.lanes, core.addr_bits, core.aw)
    bl = beat_layout(core.lanes, core.dw, core.cb)
    dl = descriptor_layout(core.cb)
    passes = []
    for p in prog.passes:
        beats = [bl.const({"slot": [{"valid": v, "ci": c, "i": i, "j": j, "value": x}
                                    for v, c, i, j, x in b["slots"]], "end": b["end"]}).as_bits()
                 for b in p.beats]
        passes.append({"loads": [ll.const(ld).as_bits() for ld in p.loads],
                       "desc": dl.const(p.desc).as_bits(), "beats": beats,
                       "drain_words": drain_words(p.desc)})
    return passes


def simulate(prog, core_kwargs, *, sim="verilator", throttle=True, seed=0, waves=None,
             build_root="build/sim", quiet=False):
    """Run ``prog``; return ``(drained, counters, cycles)``.

    ``drained`` is, for every pass that drains, its output beats, each a list
    of ``(value, mask)`` per lane, as :meth:`Program.assemble` takes them.
    """
    core = SparseCore(**core_kwargs)
    passes = _pack_program(core, prog)
    ol = data.ArrayLayout(output_layout(core.dw), core.lanes)
    fd, out_path = tempfile.mkstemp(suffix=".json", prefix="core-")
    os.close(fd)
    budget = 10000 + 40 * sum(len(p["loads"]) + 30 * len(p["beats"]) + p["drain_words"]
                              for p in passes)
    args = {"passes": passes, "seed": seed, "idle": 0.25 if throttle else 0.0,
            "stall": 0.25 if throttle else 0.0, "out": out_path,
            "timeout_cycles": budget if throttle else None}
    try:
        run_cocotb(core, "sparse_core", "ganforge.testbench.tb_core", sim=sim, args=args,
                   build_root=build_root, waves=waves, quiet=quiet)
        with open(out_path) as f:
            text = f.read()
        if not text:
            raise RuntimeError("the core simulation did not finish (see sim.log in the build "
                               f"directory under {build_root})")
        res = json.loads(text)
    finally:
        os.unlink(out_path)
    words = iter(res["words"])
    drained = []
    for p in passes:
        if p["drain_words"]:
            beats = []
            for _ in range(p["drain_words"]):
                view = ol.from_bits(next(words))
                beats.append([(int(view[l].value), int(view[l].mask)) for l in range(core.lanes)])
            drained.append(beats)
    return drained, res["counters"], res["cycles"]
