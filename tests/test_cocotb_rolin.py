"""The i2i generator's conv → IN → ReLU → conv, FP and EP, through the generated
RolinEngine Verilog with AxiRam as external memory, bit-exact against the golden model."""

import json

import pytest
from cocotb_tools.runner import get_results

from ganforge.rtl.rolin_engine import RolinEngine
from ganforge.testbench.runner import run_cocotb


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


def test_rolin_flow_icarus(tmp_path):
    total, failed, counts = run_flow("icarus", str(tmp_path), samples=1, out=str(tmp_path / "c.json"))
    assert total == 1 and failed == 0
    # ROLIN moves fewer bytes than IN as separate passes, in both directions.
    for phase in ("fp", "ep"):
        on, off = counts[f"{phase}_on"], counts[f"{phase}_off"]
        assert on["rd_bytes"] + on["wr_bytes"] < off["rd_bytes"] + off["wr_bytes"]


@pytest.mark.slow
def test_rolin_flow_verilator(tmp_path):
    total, failed, _ = run_flow("verilator", str(tmp_path), samples=2, axi_data_width=32)
    assert total == 1 and failed == 0
