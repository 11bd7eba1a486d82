"""Run the i2i ROLIN flow (testbench/tb_rolin.py) on a generated RolinEngine; used by the
tests and by scripts/bench_rolin.py."""

import json

from cocotb_tools.runner import get_results

from ganforge.rtl.rolin.engine import RolinEngine
from ganforge.testbench.runner import run_cocotb

__all__ = ["run_flow"]


def run_flow(sim, build_root, *, samples, modes=("on", "off"), throttle=0.3, axi_data_width=64,
             seed=1, out=None, quiet=True, verbose=False):
    """Run testbench/tb_rolin.py; returns (tests, failed, counts dict or None)."""
    fifo_depth = 64
    dut = RolinEngine(axi_data_width=axi_data_width, fifo_depth=fifo_depth, table_depth=2048)
    args = {"samples": samples, "modes": list(modes), "throttle": throttle, "seed": seed,
            "mem_size": 1 << 22, "axi_data_width": axi_data_width, "fifo_depth": fifo_depth,
            "out": out, "verbose": verbose}
    results = run_cocotb(dut, "rolin_engine", "ganforge.testbench.tb_rolin", sim=sim, args=args,
                         build_root=build_root, quiet=quiet)
    total, failed = get_results(results)
    counts = None
    if out:
        with open(out) as f:
            counts = json.load(f)
    return total, failed, counts
