"""Formal proof of the AXI4-Lite register bank on the real maps (SymbiYosys, z3, k-induction).

:class:`CsrFormal` wraps the :class:`~ganforge.rtl.bus.csr.AxiLiteCsr` of a
:class:`~ganforge.rtl.bus.regmap.RegisterMap`: the ROLIN engine's (by default), the
command processor's, or the cluster's (:data:`MAPS`: ``ro`` registers of 32 and 64
bits, ``rw`` registers of 1 to 64 bits with fields, ``wo`` registers with strobes).
The manager's signals and every ``ro`` value are free (``AnySeq``); the manager is
assumed to follow AXI: a ``valid`` stays up with its payload until ``ready``.

Proven in every reachable state (``mode prove``: the base case and the induction step
at depth 3; :data:`PROVE_DEPTH`), through invariants that tie the harness's shadow state to the
bank's (:attr:`AxiLiteCsr.state`): the AWs (Ws) taken and not answered are the held AW
(W) plus a pending B, the ARs not answered are a pending R, the held address, data and
strobes are the last ones taken, and each 64-bit counter's latched high word is the
harness's. Asserted:

* B and R: once ``valid`` is up without ``ready`` it stays up, with the same
  response and data (AXI A3.2.1);
* exactly one B per write: AWs and Ws taken and unanswered are each at most two, and
  each equals the held one plus ``bvalid``; exactly one R per read: the ARs unanswered
  equal ``rvalid``; ``awready``/``wready`` drop exactly while one is held;
* a read returns, for the word it addressed, what the map says: an ``rw`` or
  ``ro`` register's port as it was when AR was taken (the high word of a 64-bit
  ``ro`` register: as it was at the last read of its low word), 0 for a ``wo``
  register, each with OKAY; 0 with SLVERR for an address no register holds or
  one that is not a multiple of 4;
* a write's B is OKAY exactly when its address is mapped and aligned; the written ``rw``
  word takes the written bytes (``wstrb``) and no other ``rw`` word changes;
  ``rw`` ports change only then; a ``wo`` port takes the data and its strobe
  pulses exactly with the B of an OKAY write to its address.

Covers reach two writes answered, a strobe, and a full round trip: a write of the first
``rw`` register, answered, then read back with the written byte.
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import (Assert, Assume, Cat, Cover, Elaboratable, Module, Mux, ResetSignal, Signal,
                          Value)

from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.rtl.rolin.engine import REGMAP
from ganforge.testbench.formal import held

__all__ = ["CsrFormal", "MAPS", "PROVE_DEPTH", "COVER_DEPTH"]


def _cluster_map():
    from ganforge.rtl.cluster.cluster import cluster_regmap
    return cluster_regmap(2, max_positions=1024)     # POSITIONS_c: 11 bits, two bytes


def _processor_map():
    from ganforge.rtl.control.processor import REGMAP as CP_REGMAP
    return CP_REGMAP


#: The real register maps the proof runs on: name -> a function giving the map.
MAPS = {"engine": lambda: REGMAP, "processor": _processor_map, "cluster": _cluster_map}

#: The proof's depths (``make formal``; :func:`~ganforge.testbench.formal.run_sby`).
PROVE_DEPTH, COVER_DEPTH = 3, 12


def _channel(m, bus, ch, fields, check):
    """:func:`~ganforge.testbench.formal.held` on AXI-Lite channel ``ch``."""
    return held(m, ch, getattr(bus, f"{ch}valid"), getattr(bus, f"{ch}ready"),
                [getattr(bus, f) for f in fields], check)


class CsrFormal(Elaboratable):
    """The bank of ``regmap`` with a free AXI-Lite manager and the properties above."""

    def __init__(self, regmap=REGMAP, *, bank=AxiLiteCsr):
        self.regmap, self.bank = regmap, bank

    def elaborate(self, platform):
        m = Module()
        m.submodules.csr = csr = self.bank(self.regmap)
        regs, aw = list(self.regmap), self.regmap.addr_width
        bus = csr.bus
        port = {r.name: Value.cast(getattr(csr, r.name)) for r in regs}
        m.d.comb += Assume(~ResetSignal())
        for r in regs:
            if r.access == "ro":
                m.d.comb += port[r.name].eq(AnySeq(r.width))
        # The manager: free inputs that keep valid and payload until ready.
        for ch, payload in (("aw", ("awaddr",)), ("w", ("wdata", "wstrb")), ("ar", ("araddr",))):
            m.d.comb += getattr(bus, f"{ch}valid").eq(AnySeq(1))
            for name in payload:
                sig = getattr(bus, name)
                m.d.comb += sig.eq(AnySeq(len(sig)))
            _channel(m, bus, ch, payload, Assume)
        m.d.comb += [bus.bready.eq(AnySeq(1)), bus.rready.eq(AnySeq(1))]

        # B and R hold until taken.
        pbv = _channel(m, bus, "b", ("bresp",), Assert)
        _channel(m, bus, "r", ("rresp", "rdata"), Assert)

        # One response per request: AWs, Ws and ARs taken and not yet answered. Held in the
        # bank's registers (an AW or W waiting for its partner, a B or R not yet taken), so
        # each is at most 2 (one answered, the next taken) and equals the bank's state: the
        # invariants that make the checks inductive.
        st = csr.state
        aw_take, w_take = bus.awvalid & bus.awready, bus.wvalid & bus.wready
        b_take, ar_take, r_take = bus.bvalid & bus.bready, bus.arvalid & bus.arready, bus.rvalid & bus.rready
        aw_pend, w_pend, r_pend = Signal(2), Signal(2), Signal(2)
        m.d.sync += [aw_pend.eq(aw_pend + aw_take - b_take), w_pend.eq(w_pend + w_take - b_take),
                     r_pend.eq(r_pend + ar_take - r_take)]
        m.d.comb += [
            Assert(aw_pend == st.aw_full + bus.bvalid), Assert(w_pend == st.w_full + bus.bvalid),
            Assert(r_pend == bus.rvalid),
            Assert(bus.awready == ~st.aw_full), Assert(bus.wready == ~st.w_full),
        ]

        # What a read returns: the map's word, sampled when AR is taken.
        word_now, mapped_now = Signal(32), Signal()
        hi_then = {r.name: Signal(r.width - 32, name=f"{r.name}_hi_then") for r in regs
                   if r.access == "ro" and r.words == 2}
        with m.If(bus.araddr[:2] == 0), m.Switch(bus.araddr[2:]):
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
        for name, hi in hi_then.items():
            m.d.comb += Assert(hi == st.hi[name])
        word_then, mapped_then = Signal(32), Signal()
        with m.If(ar_take):
            m.d.sync += [word_then.eq(word_now), mapped_then.eq(mapped_now)]
        with m.If(bus.rvalid):
            m.d.comb += Assert((bus.rdata == word_then) & (bus.rresp == Mux(mapped_then, 0, 2)))

        # Writes: the B of each write (bvalid rising), with the address and data it answers.
        last_aw, last_w, last_strb, last_unal = Signal(aw - 2), Signal(32), Signal(4), Signal()
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [last_aw.eq(bus.awaddr[2:]), last_unal.eq(bus.awaddr[:2] != 0)]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [last_w.eq(bus.wdata), last_strb.eq(bus.wstrb)]
        with m.If(st.aw_full):
            m.d.comb += Assert((last_aw == st.aw_word) & (last_unal == st.aw_unaligned))
        with m.If(st.w_full):
            m.d.comb += Assert((last_w == st.w_data) & (last_strb == st.w_strb))
        new_b = bus.bvalid & ~pbv
        mapped_w = Signal()
        m.d.comb += mapped_w.eq(0)
        for r in regs:
            word = r.addr // 4
            hit = [(last_aw == word + w) & ~last_unal for w in range(r.words)]
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
        stb_any = Cat(getattr(csr, r.name + "_stb") for r in regs if r.access == "wo").any()
        # Covers: two writes answered, a strobe, and a full round trip: a write of 0xA5 to the
        # low byte of the first ``rw`` register, answered, then read back.
        b_seen = Signal(2)
        with m.If(b_take & (b_seen != 3)):
            m.d.sync += b_seen.eq(b_seen + 1)
        rw = next(r for r in regs if r.access == "rw" and r.width >= 8 and r.reset & 0xFF != 0xA5)
        rd_word = Signal(aw - 2)
        with m.If(ar_take):
            m.d.sync += rd_word.eq(bus.araddr[2:])
        m.d.comb += [Cover(b_take & (b_seen == 1)),
                     Cover(stb_any),
                     Cover(r_take & (b_seen != 0) & (rd_word == rw.addr // 4) & (bus.rdata[:8] == 0xA5))]
        return m
