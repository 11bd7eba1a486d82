"""The i2i generator's conv → IN → ReLU → conv, FP and EP, through the generated
RolinEngine Verilog with AxiRam as external memory, bit-exact against the golden model."""

import pytest

from ganforge.testbench import run_rolin_flow


def test_rolin_flow_icarus(tmp_path):
    """ROLIN on, FP and EP of one sample, throttled: bit-exact at every load and store."""
    # run_rolin_flow raises BenchError if the cocotb test fails or does not finish.
    counts = run_rolin_flow("icarus", str(tmp_path), samples=1, modes=("on",))
    assert counts["fp_on"]["wr_bytes"] == 25088          # each IN map and the output stored once


@pytest.mark.slow
@pytest.mark.parametrize("sim,axi_data_width", [("verilator", 32), ("icarus", 64)])
def test_rolin_flow_on_and_off(tmp_path, sim, axi_data_width):
    """ROLIN on and off, FP and EP, two samples; ROLIN moves fewer bytes in both phases."""
    counts = run_rolin_flow(sim, str(tmp_path), samples=2, axi_data_width=axi_data_width)
    for phase in ("fp", "ep"):
        on, off = counts[f"{phase}_on"], counts[f"{phase}_off"]
        assert on["rd_bytes"] + on["wr_bytes"] < off["rd_bytes"] + off["wr_bytes"]


@pytest.mark.parametrize("args, word", [(["--samples", "0"], "samples"), (["--samples", "x"], "samples"),
                                        (["--sim", "xsim"], "sim")])
def test_bench_refuses_bad_arguments(args, word):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "scripts" / "bench_rolin.py"), *args], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench-rolin: error:") and word in lines[0]
