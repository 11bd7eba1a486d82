"""SymbiYosys: the DMA's AXI4 master (testbench/formal_dma.py).

A k-induction proof (depth 2) of the AXI protocol, burst, address, outstanding-count and
``rd_data`` properties, timeouts included, and covers of full transfers (a read and a write
of several bursts, each also after a timeout), with z3, one solver at a time: about 25 s
for ``prove`` and 2-3 minutes for ``cover`` (depth 24). The proof is repeated at the DMA's
default parameters and at a wide configuration (about 30 s each). The main proof and
covers run in `make test` (about 80 s); the rest are slow (`make regress`).

A proof that cannot fail proves nothing: :func:`test_dma_mutants_fail` builds the harness
around mutated DMAs (and once with an environment assumption dropped) and checks that
the proof's base case finds a real counterexample from reset (``DONE (FAIL``).
"""

import pytest
from amaranth.hdl import Mux, Signal

from ganforge.rtl.bus.dma import Dma
from ganforge.testbench.formal import run_sby
from ganforge.testbench.formal_dma import COVER_DEPTH, PROVE_DEPTH, DmaFormal, _signals


def _sby(tmp_path, top, task, prove_depth=PROVE_DEPTH):
    # -j 1: one solver at a time (the base case and induction of `prove`, then `cover`)
    return run_sby(tmp_path, top, "dma", task, prove_depth=prove_depth, cover_depth=COVER_DEPTH)


def test_dma_axi_master_properties(tmp_path):
    proc = _sby(tmp_path, DmaFormal(), [])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "[dma_prove] DONE (PASS" in proc.stdout and "[dma_cover] DONE (PASS" in proc.stdout
    assert "successful proof by k-induction" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("params", [
    pytest.param(dict(addr_width=32, data_width=64, max_burst=16, max_outstanding_reads=4,
                      max_outstanding_writes=4, tag_width=2, watchdog=1 << 16), id="dma-defaults"),
    pytest.param(dict(addr_width=40, data_width=128, max_burst=256, max_outstanding_reads=4,
                      max_outstanding_writes=2, tag_width=3, watchdog=16), id="wide"),
])
def test_dma_proof_other_params(tmp_path, params):
    """The proof does not hinge on the small parameters (no cover: a 2**16-cycle watchdog
    is beyond any cover depth)."""
    proc = _sby(tmp_path, DmaFormal(**params), ["prove"])
    assert "[dma_prove] DONE (PASS" in proc.stdout, proc.stdout[-3000:]


# ---- mutants: each breaks one asserted property -------------------------------------------

class _OneMoreRead(Dma):
    """Keeps one more read burst in flight than it says (its FIFO is one deeper)."""

    def elaborate(self, platform):
        self.max_outstanding_reads += 1
        try:
            return super().elaborate(platform)
        finally:
            self.max_outstanding_reads -= 1


class _AwaddrMoves(Dma):
    """Flips AWADDR bit 2 every cycle: the address changes while AWVALID waits for AWREADY."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        m.d.comb += self.axi.awaddr.eq(_signals(m)["wr_addr"] ^ (toggle << 2))
        return m


class _AwlenShrinks(Dma):
    """Shortens a burst of several beats by one once AWVALID has waited a cycle for AWREADY:
    only the AXI stability check (A3.2.1) sees it when it happens."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        waited = Signal()
        m.d.sync += waited.eq(self.axi.awvalid & ~self.axi.awready)
        burst = _signals(m)["wr_burst"]
        m.d.comb += self.axi.awlen.eq(burst - 1 - (waited & (burst > 1)))
        return m


class _No4K(Dma):
    """Splits bursts by ``max_burst`` only, forgetting the 4 KiB boundary."""

    def _burst(self, m, addr, left, prefix):
        burst = Signal(range(self.max_burst + 1), name=f"{prefix}_burst")
        m.d.comb += burst.eq(Mux(left < self.max_burst, left, self.max_burst))
        return burst


class _LastEveryBurst(Dma):
    """Marks ``rd_data.last`` on the last beat of every burst, not of the command."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.rd_data.payload.last.eq(self.axi.rlast)
        return m


@pytest.mark.slow
@pytest.mark.parametrize("top", [
    pytest.param(lambda: DmaFormal(dma_cls=_OneMoreRead), id="outstanding+1"),
    pytest.param(lambda: DmaFormal(dma_cls=_AwaddrMoves), id="awaddr-unstable"),
    pytest.param(lambda: DmaFormal(dma_cls=_AwlenShrinks), id="awlen-unstable"),
    pytest.param(lambda: DmaFormal(dma_cls=_No4K), id="crosses-4k"),
    pytest.param(lambda: DmaFormal(dma_cls=_LastEveryBurst), id="last-every-burst"),
    pytest.param(lambda: DmaFormal(drop_assume="r_issued"), id="no-R-issue-assumption"),
])
def test_dma_mutants_fail(tmp_path, top):
    proc = _sby(tmp_path, top(), ["prove"], prove_depth=6)
    assert "[dma_prove] DONE (FAIL" in proc.stdout, proc.stdout[-3000:]
