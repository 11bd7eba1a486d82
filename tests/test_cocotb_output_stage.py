"""The generated Verilog of OutputStage under cocotb, on Icarus and Verilator, bit-exact."""

import numpy as np
import pytest

from ganforge.rtl.core.output_stage import OutputStage
from ganforge.testbench import run_bench


def _cases(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for activation, slope in [("identity", 0), ("relu", 0), ("leaky_relu", 3)]:
        for shift in (0, 7, 19):
            acc = np.concatenate([[0, 1, -1, 2**47 - 1, -2**47, 2**18, -2**18 - 1],
                                  rng.integers(-2**30, 2**30, size=20)])
            cases.append({"shift": shift, "activation": activation, "slope_shift": slope,
                          "acc": [int(v) for v in acc]})
    return cases


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_output_stage_verilog(sim, tmp_path):
    # run_bench raises BenchError unless exactly the one cocotb test ran and passed.
    res = run_bench(OutputStage(48, 16), "output_stage", "ganforge.testbench.tb_output_stage",
                    {"seed": 5, "data_width": 16, "acc_width": 48, "cases": _cases(5)},
                    sim=sim, build_root=str(tmp_path), tests=1)
    assert res is None                       # the bench checks; it writes no result
