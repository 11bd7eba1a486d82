"""Formal properties of the AXI4-Lite register bank (SymbiYosys, z3).

:class:`CsrFormal` wraps an :class:`~ganforge.rtl.bus.csr.AxiLiteCsr` with a
64-bit ``ro`` register, a 32-bit ``rw`` register and a ``wo`` register. The
manager's signals and the ``ro`` value are free (``AnySeq``); the manager is
assumed to follow AXI: a ``valid`` stays up with its payload until ``ready``.
Asserted in every state reachable within the depth (a bounded proof: the
counters below are 6 bits, more than the depth can fill):

* B and R: once ``valid`` is up without ``ready`` it stays up, with the same
  response and data (AXI A3.2.1);
* exactly one B per write: ``bvalid`` only while more writes (AW and W both
  taken) have been accepted than answered, and never more than one ahead;
* exactly one R per read: ``rvalid`` only while a read is unanswered, at most one;
* a read of the ``rw`` register returns what the port holds; an unmapped
  address answers SLVERR; the ``wo`` strobe pulses only on a B for its address.
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Mux, ResetSignal, Signal

from ganforge.rtl.bus.csr import AxiLiteCsr, Reg

__all__ = ["CsrFormal", "SBY"]

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
read_rtlil design.il
prep -top top

[files]
design.il
"""

REGS = [Reg("counter", 0x0, "ro", 64), Reg("setting", 0x8, "rw", 32, reset=0x1234), Reg("kick", 0xC, "wo")]


class CsrFormal(Elaboratable):
    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = AxiLiteCsr(REGS, addr_width=8)
        bus = csr.bus
        m.d.comb += Assume(~ResetSignal())
        m.d.comb += csr.counter.eq(AnySeq(64))
        # The manager: free inputs that keep valid and payload until ready.
        for ch, payload in (("aw", ("awaddr", "awprot")), ("w", ("wdata", "wstrb")), ("ar", ("araddr", "arprot"))):
            valid, ready = getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready")
            m.d.comb += valid.eq(AnySeq(1))
            pv, pr = Signal(name=f"p_{ch}v"), Signal(name=f"p_{ch}r")
            m.d.sync += [pv.eq(valid), pr.eq(ready)]
            for name in payload:
                sig = getattr(bus, name)
                m.d.comb += sig.eq(AnySeq(len(sig)))
                past = Signal(len(sig), name=f"p_{name}")
                m.d.sync += past.eq(sig)
                with m.If(pv & ~pr):
                    m.d.comb += Assume(sig == past)
            with m.If(pv & ~pr):
                m.d.comb += Assume(valid)
        m.d.comb += [bus.bready.eq(AnySeq(1)), bus.rready.eq(AnySeq(1))]

        # B and R hold until taken.
        for ch, fields in (("b", ("bresp",)), ("r", ("rresp", "rdata"))):
            valid, ready = getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready")
            pv, pr = Signal(name=f"p_{ch}v"), Signal(name=f"p_{ch}r")
            m.d.sync += [pv.eq(valid), pr.eq(ready)]
            for name in fields:
                sig = getattr(bus, name)
                past = Signal(len(sig), name=f"p_{name}")
                m.d.sync += past.eq(sig)
                with m.If(pv & ~pr):
                    m.d.comb += Assert(sig == past)
            with m.If(pv & ~pr):
                m.d.comb += Assert(valid)

        # One response per request.
        aw_n, w_n, b_n, ar_n, r_n = (Signal(6, name=n) for n in ("aw_n", "w_n", "b_n", "ar_n", "r_n"))
        m.d.sync += [
            aw_n.eq(aw_n + (bus.awvalid & bus.awready)), w_n.eq(w_n + (bus.wvalid & bus.wready)),
            b_n.eq(b_n + (bus.bvalid & bus.bready)), ar_n.eq(ar_n + (bus.arvalid & bus.arready)),
            r_n.eq(r_n + (bus.rvalid & bus.rready)),
        ]
        writes = Signal(6)
        m.d.comb += writes.eq(Mux(aw_n < w_n, aw_n, w_n))
        m.d.comb += [
            Assert(b_n <= writes),
            Assert(writes <= b_n + 2),
            Assert(r_n <= ar_n), Assert(ar_n <= r_n + 1),
        ]
        with m.If(bus.bvalid):
            m.d.comb += Assert(b_n < writes)
        with m.If(bus.rvalid):
            m.d.comb += Assert(r_n < ar_n)

        # What a read returns.
        last_ar = Signal(8)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += last_ar.eq(bus.araddr)
        setting_then = Signal(32)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += setting_then.eq(csr.setting)
        with m.If(bus.rvalid):
            with m.If(last_ar[2:] == 2):
                m.d.comb += Assert((bus.rdata == setting_then) & (bus.rresp == 0))
            with m.If(last_ar[2:] > 3):
                m.d.comb += Assert(bus.rresp == 2)
        with m.If(csr.kick_stb):
            m.d.comb += Assert(bus.bvalid & (bus.bresp == 0))
        m.d.comb += [Cover(bus.bvalid & bus.bready & (b_n == 2)), Cover(csr.kick_stb),
                     Cover(bus.rvalid & (last_ar[2:] == 1))]
        return m
