"""The i2i generator's conv → IN → ReLU → conv, FP and EP, through the generated
RolinEngine Verilog with AxiRam as external memory, bit-exact against the golden model."""

import pytest

from ganforge.testbench.rolin_flow import run_flow


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
