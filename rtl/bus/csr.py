"""An AXI4-Lite register bank (subordinate), 32-bit data.

The bank is described by a list of :class:`Reg`; each becomes one port of the
component, named after the register:

=======  ==========  ==========================================================
kind     port        behaviour
=======  ==========  ==========================================================
``ro``   ``In(w)``   reads return the port. A register wider than 32 bits takes
                     two words; reading the low word latches the high word, so
                     a LO-then-HI read of a running counter never tears.
``rw``   ``Out(w)``  storage with a reset value; writes honour ``wstrb``; wider
                     than 32 bits takes two words, each written on its own.
``wo``   ``Out(w)``  a write sets the port to the written data and pulses
         + ``NAME_stb``  ``NAME_stb`` for one cycle; reads return 0.
=======  ==========  ==========================================================

An access to an address no register occupies gets ``SLVERR`` (reads return
0). AW and W may arrive in either order or together; one write and one read
are handled at a time. Latency: a read answers the cycle after AR is
accepted; a write answers the cycle after both AW and W are in.
"""

from dataclasses import dataclass

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AxiLiteSignature, RESP_OKAY, RESP_SLVERR

__all__ = ["Reg", "AxiLiteCsr"]


@dataclass(frozen=True)
class Reg:
    """One register: ``name``, byte address ``addr`` (multiple of 4), ``kind``, ``width``, ``reset``."""
    name: str
    addr: int
    kind: str = "ro"
    width: int = 32
    reset: int = 0
    doc: str = ""

    @property
    def words(self):
        return (self.width + 31) // 32


class AxiLiteCsr(wiring.Component):
    def __init__(self, regs, addr_width=12):
        seen = {}
        for r in regs:
            if r.kind not in ("ro", "rw", "wo"):
                raise ValueError(f"register {r.name}: kind must be ro, rw or wo, got {r.kind!r}")
            if r.addr % 4 or not 0 <= r.addr < 2 ** addr_width:
                raise ValueError(f"register {r.name}: address {r.addr:#x} is not a word inside "
                                 f"the {addr_width}-bit space")
            if not 1 <= r.width <= 64 or (r.kind == "wo" and r.width > 32):
                raise ValueError(f"register {r.name}: width {r.width} not supported for {r.kind}")
            for w in range(r.words):
                word = r.addr // 4 + w
                if word in seen:
                    raise ValueError(f"register {r.name} overlaps {seen[word]} at {4 * word:#x}")
                seen[word] = r.name
        self.regs = list(regs)
        self.addr_width = addr_width
        members = {"bus": In(AxiLiteSignature(addr_width, 32))}
        for r in self.regs:
            if r.kind == "ro":
                members[r.name] = In(r.width)
            elif r.kind == "rw":
                members[r.name] = Out(r.width, init=r.reset)
            else:
                members[r.name] = Out(r.width)
                members[r.name + "_stb"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # ---- write channel ----
        aw_full, w_full = Signal(), Signal()
        aw_word = Signal(self.addr_width - 2)
        w_data = Signal(32)
        w_strb = Signal(4)
        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        do_write = aw_full & w_full & ~bus.bvalid
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        for r in self.regs:
            if r.kind == "wo":
                m.d.sync += getattr(self, r.name + "_stb").eq(0)

        with m.If(do_write):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.bvalid.eq(1), bus.bresp.eq(RESP_SLVERR)]
            with m.Switch(aw_word):
                for r in self.regs:
                    port = getattr(self, r.name)
                    for w in range(r.words):
                        with m.Case(r.addr // 4 + w):
                            m.d.sync += bus.bresp.eq(RESP_OKAY)
                            if r.kind == "rw":
                                lo, hi = 32 * w, min(32 * w + 32, r.width)
                                for byte in range(4):
                                    b_lo = lo + 8 * byte
                                    if b_lo >= hi:
                                        break
                                    b_hi = min(b_lo + 8, hi)
                                    with m.If(w_strb[byte]):
                                        m.d.sync += port[b_lo:b_hi].eq(w_data[8 * byte:8 * byte + b_hi - b_lo])
                            elif r.kind == "wo":
                                m.d.sync += [port.eq(w_data), getattr(self, r.name + "_stb").eq(1)]

        # ---- read channel ----
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        shadows = {r.name: Signal(r.width - 32, name=f"{r.name}_hi") for r in self.regs
                   if r.kind == "ro" and r.words == 2}
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(RESP_SLVERR), bus.rdata.eq(0)]
            with m.Switch(bus.araddr[2:]):
                for r in self.regs:
                    port = getattr(self, r.name)
                    for w in range(r.words):
                        with m.Case(r.addr // 4 + w):
                            m.d.sync += bus.rresp.eq(RESP_OKAY)
                            if r.kind == "wo":
                                continue
                            if r.kind == "ro" and r.words == 2:
                                if w == 0:
                                    m.d.sync += [bus.rdata.eq(port[:32]),
                                                 shadows[r.name].eq(port[32:])]
                                else:
                                    m.d.sync += bus.rdata.eq(shadows[r.name])
                            else:
                                m.d.sync += bus.rdata.eq(port[32 * w:min(32 * w + 32, r.width)])
        return m
