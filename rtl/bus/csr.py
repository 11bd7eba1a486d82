"""An AXI4-Lite register bank (subordinate), 32-bit data, built from a register map.

The bank's decoder comes from a :class:`~ganforge.rtl.bus.regmap.RegisterMap`
(the single description of a block's registers, which also gives the
firmware's codecs and the documentation's tables). See :class:`AxiLiteCsr`.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AxiLiteSignature, RESP_OKAY, RESP_SLVERR
from ..refuse import Params
from .regmap import RegisterMap

__all__ = ["AxiLiteCsr"]


class AxiLiteCsr(wiring.Component):
    """AXI4-Lite register bank: one port per register of a map.

    Each register of ``regmap`` becomes a port named after it, shaped by
    :meth:`Register.shape <ganforge.rtl.bus.regmap.Register.shape>`: a register
    with declared fields is a ``lib.data`` view (``csr.mode.ld_mode``), one
    without is a plain value.

    =======  ====================  ============================================
    access   port                  behaviour
    =======  ====================  ============================================
    ``ro``   ``In(shape)``         reads return the port. A register wider than
                                   32 bits takes two words; reading the low
                                   word latches the high word, so a LO-then-HI
                                   read of a running counter never tears.
    ``rw``   ``Out(shape)``        storage with the register's reset value;
                                   writes honour ``wstrb``; wider than 32 bits
                                   takes two words, each written on its own.
    ``wo``   ``Out(shape)``,       a write sets the port to the written data
             ``NAME_stb: Out(1)``  and pulses ``NAME_stb`` for one cycle;
                                   reads return 0.
    =======  ====================  ============================================

    Parameters
    ----------
    regmap : RegisterMap
        The registers; its ``addr_width`` is the bus's address width.

    Members
    -------
    bus : ``In(AxiLiteSignature(regmap.addr_width, 32))``
        The subordinate port.
    <register name> : see the table; ``<name>_stb`` for each ``wo`` register.

    Latency and throughput
    ----------------------
    A read answers (R) the cycle after AR is accepted; a write answers (B) the
    cycle after both AW and W are in (they may arrive in either order or
    together). One write and one read are handled at a time, so a read and a
    write may overlap; a new AR is taken once R is accepted, a new AW or W
    once B is. A ``wo`` strobe and an ``rw`` update take effect with B.

    Bad input
    ---------
    An access to an address that no register occupies, or to an address that is not a
    multiple of 4, answers ``SLVERR`` (reads return 0) and changes nothing; a read of a
    ``wo`` register answers ``OKAY`` with 0. The port has no ``awprot``/``arprot`` (see
    :class:`~ganforge.rtl.bus.axi.AxiLiteSignature`).

    Raises
    ------
    ValueError
        At construction: ``regmap`` not a :class:`RegisterMap` (a register map checks its
        own registers and ``addr_width`` when it is made).
    """

    def __init__(self, regmap):
        if not isinstance(regmap, RegisterMap):
            Params(self, "AxiLiteCsr").fail(
                f"regmap must be a RegisterMap, got {type(regmap).__name__}")
        self.regmap = regmap
        self.regs = list(regmap)
        self.addr_width = regmap.addr_width
        members = {"bus": In(AxiLiteSignature(self.addr_width, 32))}
        for r in self.regs:
            if r.access == "ro":
                members[r.name] = In(r.shape())
            elif r.access == "rw":
                members[r.name] = Out(r.shape(), init=r.init())
            else:
                members[r.name] = Out(r.shape())
                members[r.name + "_stb"] = Out(1)
        super().__init__(members)
        #: The bank's state, for formal harnesses (``testbench/formal_csr.py``) to state
        #: invariants on: an AW (a W) held until its write is done, its word address and
        #: whether it was unaligned (data and strobes), and each 64-bit ``ro`` register's
        #: latched high word.
        self.state = SimpleNamespace(
            aw_full=Signal(name="aw_full"), w_full=Signal(name="w_full"),
            aw_word=Signal(self.addr_width - 2, name="aw_word"),
            aw_unaligned=Signal(name="aw_unaligned"),
            w_data=Signal(32, name="w_data"), w_strb=Signal(4, name="w_strb"),
            hi={r.name: Signal(r.width - 32, name=f"{r.name}_hi") for r in self.regs
                if r.access == "ro" and r.words == 2})

    def _words(self, m):
        """Every mapped 32-bit word, inside its ``m.Case`` of the caller's ``m.Switch`` on the
        word address: yields ``(register, word index, register port as a value)``."""
        for r in self.regs:
            port = Value.cast(getattr(self, r.name))
            for w in range(r.words):
                with m.Case(r.addr // 4 + w):
                    yield r, w, port

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # ---- write channel ----
        st = self.state
        aw_full, w_full, aw_word, w_data, w_strb = st.aw_full, st.w_full, st.aw_word, st.w_data, st.w_strb
        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.awaddr[2:]),
                         st.aw_unaligned.eq(bus.awaddr[:2] != 0)]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        do_write = aw_full & w_full & ~bus.bvalid
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        for r in self.regs:
            if r.access == "wo":
                m.d.sync += getattr(self, r.name + "_stb").eq(0)

        with m.If(do_write):
            # SLVERR unless a register holds the (aligned) word
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.bvalid.eq(1), bus.bresp.eq(RESP_SLVERR)]
            with m.If(~st.aw_unaligned), m.Switch(aw_word):
                for r, w, port in self._words(m):
                    m.d.sync += bus.bresp.eq(RESP_OKAY)
                    if r.access == "rw":
                        lo, hi = 32 * w, min(32 * w + 32, r.width)
                        for byte in range(4):
                            b_lo = lo + 8 * byte
                            if b_lo >= hi:
                                break
                            b_hi = min(b_lo + 8, hi)
                            with m.If(w_strb[byte]):
                                m.d.sync += port[b_lo:b_hi].eq(w_data[8 * byte:8 * byte + b_hi - b_lo])
                    elif r.access == "wo":
                        m.d.sync += [port.eq(w_data), getattr(self, r.name + "_stb").eq(1)]

        # ---- read channel ----
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        shadows = st.hi
        with m.If(bus.arvalid & bus.arready):
            # 0 with SLVERR unless a register holds the (aligned) word
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(RESP_SLVERR), bus.rdata.eq(0)]
            with m.If(bus.araddr[:2] == 0), m.Switch(bus.araddr[2:]):
                for r, w, port in self._words(m):
                    m.d.sync += bus.rresp.eq(RESP_OKAY)
                    if r.access == "wo":
                        continue
                    if r.access == "ro" and r.words == 2:
                        if w == 0:
                            m.d.sync += [bus.rdata.eq(port[:32]), shadows[r.name].eq(port[32:])]
                        else:
                            m.d.sync += bus.rdata.eq(shadows[r.name])
                    else:
                        m.d.sync += bus.rdata.eq(port[32 * w:min(32 * w + 32, r.width)])
        return m
