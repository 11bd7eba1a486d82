"""The accelerator (sparse core + ROLIN engine, rtl/top/accelerator.py) under cocotb:
conv → IN → ReLU → conv of the i2i generator, FP and EP, with AxiRam as external memory,
every stream and AXI channel throttled, bit-exact against the golden model
(testbench/tb_accel.py)."""

import pytest

from ganforge.rtl.top.accelerator import Accelerator
from ganforge.testbench import FULL_CUT, run_accel_chain


def test_accel_chain_icarus(tmp_path):
    """T2 cut to 4 input and 8 IN channels, T3 to 4 outputs, one sample, FP and EP."""
    # run_accel_chain raises BenchError if the cocotb test fails or does not finish.
    res = run_accel_chain("icarus", str(tmp_path), samples=1, cut=(4, 8, 4, 16))
    assert set(res["cycles"]) == {"fp_T2", "fp_T3", "ep_T3", "ep_T2"}


@pytest.mark.slow
@pytest.mark.parametrize("sim,samples,lanes", [("verilator", 2, 8), ("icarus", 1, 4)])
def test_accel_chain_full_layers(tmp_path, sim, samples, lanes):
    """The whole T2 → T2.in → T3, FP and EP: the results equal the saved workload too."""
    res = run_accel_chain(sim, str(tmp_path), samples=samples, cut=FULL_CUT, lanes=lanes)
    assert set(res["cycles"]) == {"fp_T2", "fp_T3", "ep_T3", "ep_T2"}


@pytest.mark.parametrize("kwargs,word", [
    (dict(core=dict(data_width=8)), "data_width"),
    (dict(core=dict(out_depth=64), max_positions=256), "max_positions"),
    (dict(engine=dict(fifo_depth=6)), "fifo_depth"),
    (dict(core=dict(lanes=3)), "lanes"),
    (dict(max_positions=6), "max_positions")])
def test_accelerator_refuses_bad_configurations(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Accelerator(**kwargs)
