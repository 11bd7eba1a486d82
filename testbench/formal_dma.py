"""Formal properties of the DMA's AXI4 manager side (SymbiYosys, bounded model check).

:class:`DmaFormal` wraps a small :class:`~ganforge.rtl.dma.Dma` (32-bit data,
bursts of at most 4, 2 outstanding reads and writes). Every input is free
(``AnySeq``) except where an assumption says otherwise, and ``limit`` is an
arbitrary constant. Assumed: the write-data stream and the command streams
keep ``valid`` and the payload until ``ready`` (the ``amaranth.lib.stream``
rule), and the subordinate ends a read burst (``rlast``) or answers a write
(``bvalid``) only when one is outstanding. Asserted, in every reachable state
up to the depth:

* AR/AW: once ``valid`` is up without ``ready``, it stays up with the same
  address and length (AXI A3.2.1);
* no burst crosses a 4 KiB boundary, none is longer than ``max_burst``;
* no burst touches a byte above ``limit`` (a refused command issues nothing);
* W: ``wvalid`` holds with its data until ``wready``; ``wlast`` is set on
  exactly the ``awlen+1``-th beat of each burst, and W beats only follow an AW;
* at most ``max_outstanding_reads`` read bursts are in flight.

Covers show a full burst, two outstanding reads and a W burst are reachable.
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, ResetSignal, Signal, Value

from ganforge.rtl.dma import Dma

__all__ = ["DmaFormal", "SBY"]

SBY = """[tasks]
bmc
cover

[options]
bmc: mode bmc
cover: mode cover
depth {depth}

[engines]
smtbmc z3

[script]
read_rtlil dma_formal.il
prep -top top

[files]
dma_formal.il
"""


class DmaFormal(Elaboratable):
    def __init__(self, max_burst=4, outstanding=2):
        self.max_burst, self.outstanding = max_burst, outstanding

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = dma = Dma(addr_width=32, data_width=32, max_burst=self.max_burst,
                                     max_outstanding_reads=self.outstanding,
                                     max_outstanding_writes=self.outstanding)
        axi = dma.axi
        m.d.comb += Assume(~ResetSignal())
        limit = AnyConst(32)
        m.d.comb += [dma.limit.eq(limit), dma.clear_counters.eq(AnySeq(1)),
                     dma.clear_errors.eq(AnySeq(8))]
        for port in (axi.arready, axi.awready, axi.wready, axi.rvalid, axi.rlast, axi.rresp, axi.rdata,
                     axi.rid, axi.bvalid, axi.bresp, axi.bid, dma.rd_data.ready):
            m.d.comb += port.eq(AnySeq(len(port)))
        for strm in (dma.rd_cmd, dma.wr_cmd, dma.wr_data):
            valid, payload = AnySeq(1), AnySeq(len(Value.cast(strm.payload)))
            m.d.comb += [strm.valid.eq(valid), strm.payload.eq(payload)]
            past_v, past_r, past_p = Signal(), Signal(), Signal.like(strm.payload)
            m.d.sync += [past_v.eq(strm.valid), past_r.eq(strm.ready), past_p.eq(strm.payload)]
            with m.If(past_v & ~past_r):                     # the stream rule
                m.d.comb += Assume(strm.valid & (Value.cast(strm.payload) == Value.cast(past_p)))

        bpb = 4
        # --- outstanding bursts, and what the subordinate may do ---
        rd_out = Signal(range(self.outstanding + 2))
        wr_out = Signal(range(self.outstanding + 2))
        ar_fire = axi.arvalid & axi.arready
        r_end = axi.rvalid & axi.rready & axi.rlast
        aw_fire = axi.awvalid & axi.awready
        b_fire = axi.bvalid & axi.bready
        m.d.sync += [rd_out.eq(rd_out + ar_fire - r_end), wr_out.eq(wr_out + aw_fire - b_fire)]
        m.d.comb += [Assume(~axi.rvalid | (rd_out != 0)), Assume(~axi.bvalid | (wr_out != 0))]
        m.d.comb += Assert(rd_out <= self.outstanding)

        for ch in ("ar", "aw"):
            valid, ready = getattr(axi, f"{ch}valid"), getattr(axi, f"{ch}ready")
            addr, alen = getattr(axi, f"{ch}addr"), getattr(axi, f"{ch}len")
            pv, pr = Signal(name=f"past_{ch}valid"), Signal(name=f"past_{ch}ready")
            pa, pl = Signal(32, name=f"past_{ch}addr"), Signal(8, name=f"past_{ch}len")
            m.d.sync += [pv.eq(valid), pr.eq(ready), pa.eq(addr), pl.eq(alen)]
            with m.If(pv & ~pr):
                m.d.comb += Assert(valid & (addr == pa) & (alen == pl))
            with m.If(valid):
                m.d.comb += [
                    Assert(alen < self.max_burst),
                    Assert(addr[:12] + (alen + 1) * bpb <= 4096),
                    Assert(addr + (alen + 1) * bpb - 1 <= limit),
                    Assert(addr[:2] == 0),
                ]
            m.d.comb += Cover(valid & ready & (alen == self.max_burst - 1))

        # --- W channel ---
        pv, pr, pd = Signal(), Signal(), Signal(32)
        m.d.sync += [pv.eq(axi.wvalid), pr.eq(axi.wready), pd.eq(axi.wdata)]
        with m.If(pv & ~pr):
            m.d.comb += Assert(axi.wvalid & (axi.wdata == pd))
        beats_left = Signal(range(self.max_burst + 1))      # W beats owed to the last AW
        with m.If(aw_fire):
            m.d.sync += beats_left.eq(axi.awlen + 1)
        with m.If(axi.wvalid):
            m.d.comb += [Assert(beats_left != 0), Assert(axi.wlast == (beats_left == 1)),
                         Assert(~aw_fire)]
            with m.If(axi.wready):
                m.d.sync += beats_left.eq(beats_left - 1)
        m.d.comb += Cover(axi.wvalid & axi.wready & axi.wlast & (axi.awlen == self.max_burst - 1))
        m.d.comb += Cover(rd_out == self.outstanding)
        return m
