"""Formal properties of the AXI4-Lite register bank on the real map (SymbiYosys, z3).

:class:`CsrFormal` wraps the :class:`~ganforge.rtl.bus.csr.AxiLiteCsr` of a
:class:`~ganforge.rtl.bus.regmap.RegisterMap`, by default the ROLIN engine's
(:data:`ganforge.rtl.rolin.engine.REGMAP`: ``ro`` registers of 32 and 64 bits,
``rw`` registers of 6 to 64 bits with fields, ``wo`` registers with strobes).
The manager's signals and every ``ro`` value are free (``AnySeq``); the
manager is assumed to follow AXI: a ``valid`` stays up with its payload until
``ready``. Asserted in every state reachable within the depth (a bounded proof:
the counters below are 6 bits, more than the depth can fill):

* B and R: once ``valid`` is up without ``ready`` it stays up, with the same
  response and data (AXI A3.2.1);
* exactly one B per write: ``bvalid`` only while more writes (AW and W both
  taken) have been accepted than answered, and never more than one ahead;
* exactly one R per read: ``rvalid`` only while a read is unanswered, at most one;
* a read returns, for the word it addressed, what the map says: an ``rw`` or
  ``ro`` register's port as it was when AR was taken (the high word of a 64-bit
  ``ro`` register: as it was at the last read of its low word), 0 for a ``wo``
  register, each with OKAY; 0 with SLVERR for an address no register holds;
* a write's B is OKAY exactly when its address is mapped; the written ``rw``
  word takes the written bytes (``wstrb``) and no other ``rw`` word changes;
  ``rw`` ports change only then; a ``wo`` port takes the data and its strobe
  pulses exactly with the B of an OKAY write to its address.
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import (Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, ResetSignal, Signal,
                          Value)

from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.rtl.rolin.engine import REGMAP

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


def _held_until_ready(m, bus, ch, fields, check):
    """``check`` (``Assume`` for the manager's channels, ``Assert`` for the bank's) that
    channel ``ch`` keeps ``valid`` and ``fields`` stable while ``valid & ~ready``; returns the
    registered ``valid`` of the previous cycle."""
    valid, ready = getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready")
    pv, pr = Signal(name=f"p_{ch}v"), Signal(name=f"p_{ch}r")
    m.d.sync += [pv.eq(valid), pr.eq(ready)]
    for name in fields:
        sig = getattr(bus, name)
        past = Signal(len(sig), name=f"p_{name}")
        m.d.sync += past.eq(sig)
        with m.If(pv & ~pr):
            m.d.comb += check(sig == past)
    with m.If(pv & ~pr):
        m.d.comb += check(valid)
    return pv


class CsrFormal(Elaboratable):
    """The bank of ``regmap`` with a free AXI-Lite manager and the properties above."""

    def __init__(self, regmap=REGMAP):
        self.regmap = regmap

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = AxiLiteCsr(self.regmap)
        regs, aw = list(self.regmap), self.regmap.addr_width
        bus = csr.bus
        port = {r.name: Value.cast(getattr(csr, r.name)) for r in regs}
        m.d.comb += Assume(~ResetSignal())
        for r in regs:
            if r.access == "ro":
                m.d.comb += port[r.name].eq(AnySeq(r.width))
        # The manager: free inputs that keep valid and payload until ready.
        for ch, payload in (("aw", ("awaddr", "awprot")), ("w", ("wdata", "wstrb")), ("ar", ("araddr", "arprot"))):
            m.d.comb += getattr(bus, f"{ch}valid").eq(AnySeq(1))
            for name in payload:
                sig = getattr(bus, name)
                m.d.comb += sig.eq(AnySeq(len(sig)))
            _held_until_ready(m, bus, ch, payload, Assume)
        m.d.comb += [bus.bready.eq(AnySeq(1)), bus.rready.eq(AnySeq(1))]

        # B and R hold until taken.
        pbv = _held_until_ready(m, bus, "b", ("bresp",), Assert)
        _held_until_ready(m, bus, "r", ("rresp", "rdata"), Assert)

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

        # What a read returns: the map's word, sampled when AR is taken.
        ar_take = bus.arvalid & bus.arready
        word_now, mapped_now = Signal(32), Signal()
        hi_then = {r.name: Signal(r.width - 32, name=f"{r.name}_hi_then") for r in regs
                   if r.access == "ro" and r.words == 2}
        with m.Switch(bus.araddr[2:]):
            for r in regs:
                for w in range(r.words):
                    with m.Case(r.addr // 4 + w):
                        m.d.comb += mapped_now.eq(1)
                        if r.access == "wo":
                            pass
                        elif r.name in hi_then and w == 1:
                            m.d.comb += word_now.eq(hi_then[r.name])
                        else:
                            m.d.comb += word_now.eq(port[r.name][32 * w:min(32 * w + 32, r.width)])
                        if r.name in hi_then and w == 0:
                            with m.If(ar_take):
                                m.d.sync += hi_then[r.name].eq(port[r.name][32:])
        word_then, mapped_then = Signal(32), Signal()
        with m.If(ar_take):
            m.d.sync += [word_then.eq(word_now), mapped_then.eq(mapped_now)]
        with m.If(bus.rvalid):
            m.d.comb += Assert((bus.rdata == word_then) & (bus.rresp == Mux(mapped_then, 0, 2)))

        # Writes: the B of each write (bvalid rising), with the address and data it answers.
        last_aw, last_w, last_strb = Signal(aw - 2), Signal(32), Signal(4)
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += last_aw.eq(bus.awaddr[2:])
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [last_w.eq(bus.wdata), last_strb.eq(bus.wstrb)]
        new_b = bus.bvalid & ~pbv
        mapped_w = Signal()
        m.d.comb += mapped_w.eq(0)
        for r in regs:
            word = r.addr // 4
            hit = [last_aw == word + w for w in range(r.words)]
            for h in hit:
                with m.If(h):
                    m.d.comb += mapped_w.eq(1)
            if r.access == "rw":
                for w in range(r.words):
                    lo, hi = 32 * w, min(32 * w + 32, r.width)
                    cur = port[r.name][lo:hi]
                    past = Signal(hi - lo, name=f"p_{r.name}_{w}",
                                  init=(r.reset >> lo) & ((1 << (hi - lo)) - 1))
                    m.d.sync += past.eq(cur)
                    bits = []
                    for byte in range((hi - lo + 7) // 8):
                        b_lo, b_hi = 8 * byte, min(8 * byte + 8, hi - lo)
                        bits.append(Mux(last_strb[byte], last_w[b_lo:b_hi], past[b_lo:b_hi]))
                    merged = Cat(*bits)
                    with m.If(new_b & hit[w]):
                        m.d.comb += Assert(cur == merged)
                    with m.Else():
                        m.d.comb += Assert(cur == past)
            elif r.access == "wo":
                stb = getattr(csr, r.name + "_stb")
                m.d.comb += Assert(stb == (new_b & hit[0]))
                with m.If(stb):
                    m.d.comb += Assert(port[r.name] == last_w[:r.width])
        with m.If(new_b):
            m.d.comb += Assert(bus.bresp == Mux(mapped_w, 0, 2))
        gb = [r for r in regs if r.access == "wo"][0]
        m.d.comb += [Cover(bus.bvalid & bus.bready & (b_n == 2)),
                     Cover(getattr(csr, gb.name + "_stb")),
                     Cover(bus.rvalid & mapped_then & (word_then != 0))]
        return m
