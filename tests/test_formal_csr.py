"""SymbiYosys: proof of the AXI4-Lite register bank's protocol and map (testbench/formal_csr.py).

k-induction (``mode prove``, depth 3, z3) and covers, on each real register map: the ROLIN
engine's, the command processor's and a two-core cluster's. A few seconds each.

A proof that cannot fail proves nothing, so two mutated banks must fail it: one that takes
a new read while its response is pending (``arready`` tied high), and one whose decoder
places every register a word too high.
"""

import pytest
from amaranth.hdl import Value

from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.testbench.formal import run_sby
from ganforge.testbench.formal_csr import COVER_DEPTH, MAPS, PROVE_DEPTH, CsrFormal


def _sby(tmp_path, top, task):
    return run_sby(tmp_path, top, "csr", [task], prove_depth=PROVE_DEPTH,
                   cover_depth=COVER_DEPTH, timeout=600).stdout


@pytest.mark.parametrize("name", list(MAPS))
def test_csr_proof(tmp_path, name):
    out = _sby(tmp_path, CsrFormal(MAPS[name]()), "prove")
    assert "[csr_prove] DONE (PASS" in out and "successful proof by k-induction" in out, out[-3000:]
    out = _sby(tmp_path, CsrFormal(MAPS[name]()), "cover")
    assert "[csr_cover] DONE (PASS" in out, out[-3000:]
    assert out.count("reached cover statement") == 3, out[-3000:]


class _ReadsWhilePending(AxiLiteCsr):
    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.bus.arready.eq(1)
        return m


class _DecodesOneWordHigh(AxiLiteCsr):
    def _words(self, m):
        for r in self.regs:
            port = Value.cast(getattr(self, r.name))
            for w in range(r.words):
                with m.Case(r.addr // 4 + w + 1):
                    yield r, w, port


@pytest.mark.parametrize("bank", [_ReadsWhilePending, _DecodesOneWordHigh])
def test_csr_proof_catches_mutations(tmp_path, bank):
    out = _sby(tmp_path, CsrFormal(bank=bank), "prove")
    assert "[csr_prove] DONE (FAIL" in out, out[-3000:]
