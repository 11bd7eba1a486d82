"""Run conv → IN → ReLU → conv (testbench/tb_accel.py) on a generated Accelerator; used by
the tests."""

import json

from cocotb_tools.runner import get_results

from ganforge.rtl.top.accelerator import Accelerator
from ganforge.testbench.runner import run_cocotb

__all__ = ["run_chain", "FULL_CUT"]

#: T2's input channels, the IN's channels, T3's output channels, T2's input size: whole layers.
FULL_CUT = (16, 32, 32, 16)


def run_chain(sim, build_root, *, samples=1, cut=FULL_CUT, ep=True, throttle=0.3, lanes=4,
              axi_data_width=64, seed=1, out=None, quiet=True):
    """Run testbench/tb_accel.py; returns (tests, failed, results dict or None)."""
    fifo_depth = 64
    core = dict(lanes=lanes, weight_depth=512, out_depth=256, fifo_depth=8)
    engine = dict(axi_data_width=axi_data_width, fifo_depth=fifo_depth, table_depth=512, max_channels=32)
    dut = Accelerator(core=core, engine=engine, max_positions=256)
    args = {"samples": samples, "cut": list(cut), "ep": ep, "throttle": throttle, "seed": seed,
            "mem_size": 1 << 20, "axi_data_width": axi_data_width, "fifo_depth": fifo_depth,
            "core": core, "out": out}
    results = run_cocotb(dut, "accelerator", "ganforge.testbench.tb_accel", sim=sim, args=args,
                         build_root=build_root, quiet=quiet)
    total, failed = get_results(results)
    res = None
    if out:
        try:
            with open(out) as f:
                res = json.load(f)
        except FileNotFoundError:
            pass
    return total, failed, res
