"""The DMA and CSRs of the generated RolinEngine Verilog under cocotb, against AxiRam: transfers,
bad commands, error responses and a memory that stops answering."""

import pytest

from ganforge.rtl.rolin.engine import RolinEngine
from ganforge.testbench import run_bench

#: The DMA's watchdog in these benches: short, so a memory that stops answering is seen soon.
WATCHDOG = 300


def _run(sim, tmp_path, axi_data_width, max_burst, outstanding, seed=3):
    """The three cocotb tests of tb_dma.py (transfers, bad commands, faults); run_bench
    raises BenchError unless all three ran and passed."""
    dut = RolinEngine(axi_data_width=axi_data_width, axi_max_burst=max_burst,
                      axi_max_outstanding_reads=outstanding, axi_watchdog=WATCHDOG)
    args = {"seed": seed, "mem_size": 1 << 16, "axi_data_width": axi_data_width,
            "max_burst": max_burst, "max_outstanding": outstanding, "random_cmds": 8,
            "watchdog": WATCHDOG}
    return run_bench(dut, "rolin_engine", "ganforge.testbench.tb_dma", args, sim=sim,
                     build_root=str(tmp_path), tests=3)


@pytest.mark.parametrize("axi_data_width,max_burst,outstanding", [(64, 16, 4), (32, 5, 2)])
def test_dma_icarus(tmp_path, axi_data_width, max_burst, outstanding):
    assert _run("icarus", tmp_path, axi_data_width, max_burst, outstanding) is None


@pytest.mark.slow
def test_dma_verilator(tmp_path):
    assert _run("verilator", tmp_path, 128, 256, 8) is None


@pytest.mark.parametrize("kwargs, word", [
    ({"axi_data_width": 48}, "axi_data_width"), ({"axi_max_burst": 0}, "axi_max_burst"),
    ({"axi_max_outstanding_reads": 17}, "axi_max_outstanding_reads"),
    ({"axi_addr_width": 16}, "axi_addr_width"), ({"fifo_depth": 48}, "fifo_depth"),
    ({"data_width": 12}, "data_width"), ({"count_bits": 17}, "count_bits"),
])
def test_engine_refuses_bad_configuration(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RolinEngine(**kwargs)
