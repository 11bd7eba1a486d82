"""The DMA and CSRs of the generated RolinEngine Verilog under cocotb, against AxiRam."""

import pytest
from cocotb_tools.runner import get_results

from ganforge.rtl.rolin.engine import RolinEngine
from ganforge.testbench.runner import run_cocotb


def _run(sim, tmp_path, axi_data_width, max_burst, outstanding, testcase=None, seed=3):
    dut = RolinEngine(axi_data_width=axi_data_width, axi_max_burst=max_burst,
                      axi_max_outstanding_reads=outstanding)
    args = {"seed": seed, "mem_size": 1 << 16, "axi_data_width": axi_data_width,
            "max_burst": max_burst, "max_outstanding": outstanding, "random_cmds": 8}
    results = run_cocotb(dut, "rolin_engine", "ganforge.testbench.tb_dma", sim=sim, args=args,
                         build_root=str(tmp_path), testcase=testcase, quiet=True)
    total, failed = get_results(results)
    return total, failed


@pytest.mark.parametrize("axi_data_width,max_burst,outstanding", [(64, 16, 4), (32, 5, 2)])
def test_dma_icarus(tmp_path, axi_data_width, max_burst, outstanding):
    total, failed = _run("icarus", tmp_path, axi_data_width, max_burst, outstanding)
    assert total == 2 and failed == 0


@pytest.mark.slow
def test_dma_verilator(tmp_path):
    total, failed = _run("verilator", tmp_path, 128, 256, 8)
    assert total == 2 and failed == 0


@pytest.mark.parametrize("kwargs, word", [
    ({"axi_data_width": 48}, "axi_data_width"), ({"axi_max_burst": 0}, "axi_max_burst"),
    ({"axi_max_outstanding_reads": 17}, "axi_max_outstanding_reads"),
    ({"axi_addr_width": 16}, "axi_addr_width"), ({"fifo_depth": 48}, "fifo_depth"),
    ({"data_width": 12}, "data_width"), ({"count_bits": 17}, "count_bits"),
])
def test_engine_refuses_bad_configuration(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RolinEngine(**kwargs)
