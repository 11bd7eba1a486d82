"""Two AXI4 managers onto one AXI4 port.

The accelerator has two managers of external memory: the command processor's
own DMA (program fetches, command beats, snapshots) and the engine's DMA
(tiles). :class:`AxiArbiter` merges them onto the one port the memory has:

* **reads**: AR requests are granted alternately when both wait (a request
  that was presented and not yet accepted keeps its grant, so the address the
  subordinate sees is stable); ``arid`` on the port is the manager's index,
  and each R beat goes back to the manager its ``rid`` names. Reads of both
  managers may be in flight at once.
* **writes**: one burst at a time: the AW of one manager, then exactly its W
  beats up to ``wlast``, then the next AW. ``awid`` is the manager's index and
  each B goes back by ``bid``.

The managers' own IDs are not carried (each issues one ID). See
:class:`AxiArbiter` for the ports and timing.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..refuse import Params
from .axi import AxiSignature

__all__ = ["AxiArbiter"]

_AR = ("araddr", "arlen", "arsize", "arburst")
_AW = ("awaddr", "awlen", "awsize", "awburst")
_W = ("wdata", "wstrb", "wlast")


class AxiArbiter(wiring.Component):
    """Two AXI4 managers (``m0``, ``m1``) onto one port (``axi``).

    Parameters
    ----------
    addr_width : int
        Of every port, 32..64 (the DMAs').
    data_width : int
        Of every port: a power of two, 8..1024 (an AXI4 data bus).

    Members
    -------
    m0, m1 : :py:`In(AxiSignature(addr_width, data_width))`
        The managers' ports.
    axi : :py:`Out(AxiSignature(addr_width, data_width, id_width=1))`
        The merged port; ``arid``/``awid`` is the manager's index.

    Latency and throughput
    ----------------------
    No added cycle: requests and beats pass combinationally. Reads: one AR a cycle,
    granted alternately under contention. Writes: a burst's W beats pass one a cycle;
    the next AW is granted the cycle after the last W beat.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``addr_width`` outside 32..64,
        ``data_width`` not a power of two in 8..1024.
    """

    def __init__(self, *, addr_width=32, data_width=64):
        p = Params(self, "AxiArbiter")
        p.int("addr_width", addr_width, 32, 64, " (the DMAs' AXI4 addresses)")
        p.pow2("data_width", data_width, 8, 1024, " (an AXI4 data bus)")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "m0": In(AxiSignature(addr_width, data_width)),
            "m1": In(AxiSignature(addr_width, data_width)),
            "axi": Out(AxiSignature(addr_width, data_width, id_width=1)),
        })

    def _grant(self, m, valid0, valid1, accepted, name):
        """The manager granted the address channel: alternate under contention; a
        request presented and not accepted keeps its grant."""
        last = Signal(name=f"{name}_last")          # the manager granted last
        held, held_sel = Signal(name=f"{name}_held"), Signal(name=f"{name}_held_sel")
        sel = Signal(name=f"{name}_sel")
        with m.If(held):
            m.d.comb += sel.eq(held_sel)
        with m.Elif(valid0 & valid1):
            m.d.comb += sel.eq(~last)
        with m.Else():
            m.d.comb += sel.eq(valid1)
        valid = Mux(sel, valid1, valid0)
        with m.If(valid & accepted):
            m.d.sync += [held.eq(0), last.eq(sel)]
        with m.Elif(valid):
            m.d.sync += [held.eq(1), held_sel.eq(sel)]
        return sel

    def elaborate(self, platform):
        m = Module()
        s, ms = self.axi, (self.m0, self.m1)

        # ---- reads ----
        ar = self._grant(m, self.m0.arvalid, self.m1.arvalid, s.arready, "ar")
        for name in _AR:
            m.d.comb += getattr(s, name).eq(Mux(ar, getattr(self.m1, name), getattr(self.m0, name)))
        m.d.comb += [s.arid.eq(ar), s.arvalid.eq(Mux(ar, self.m1.arvalid, self.m0.arvalid))]
        for k, mk in enumerate(ms):
            to_k = s.rid == k
            m.d.comb += [mk.arready.eq(s.arready & (ar == k)),
                         mk.rdata.eq(s.rdata), mk.rresp.eq(s.rresp), mk.rlast.eq(s.rlast),
                         mk.rid.eq(0), mk.rvalid.eq(s.rvalid & to_k)]
        # ready only while a beat is offered: rid means nothing (X in four-state simulation)
        # without one
        m.d.comb += s.rready.eq(s.rvalid & Mux(s.rid, self.m1.rready, self.m0.rready))

        # ---- writes: one burst at a time ----
        in_burst, owner = Signal(), Signal()
        aw = self._grant(m, self.m0.awvalid & ~in_burst, self.m1.awvalid & ~in_burst,
                         s.awready, "aw")
        for name in _AW:
            m.d.comb += getattr(s, name).eq(Mux(aw, getattr(self.m1, name), getattr(self.m0, name)))
        aw_valid = Mux(aw, self.m1.awvalid, self.m0.awvalid) & ~in_burst
        m.d.comb += [s.awid.eq(aw), s.awvalid.eq(aw_valid)]
        with m.If(s.awvalid & s.awready):
            m.d.sync += [in_burst.eq(1), owner.eq(aw)]
        for name in _W:
            m.d.comb += getattr(s, name).eq(Mux(owner, getattr(self.m1, name), getattr(self.m0, name)))
        m.d.comb += s.wvalid.eq(in_burst & Mux(owner, self.m1.wvalid, self.m0.wvalid))
        with m.If(s.wvalid & s.wready & s.wlast):
            m.d.sync += in_burst.eq(0)
        for k, mk in enumerate(ms):
            m.d.comb += [mk.awready.eq(s.awready & (aw == k) & ~in_burst),
                         mk.wready.eq(s.wready & in_burst & (owner == k)),
                         mk.bid.eq(0), mk.bresp.eq(s.bresp), mk.bvalid.eq(s.bvalid & (s.bid == k))]
        m.d.comb += s.bready.eq(s.bvalid & Mux(s.bid, self.m1.bready, self.m0.bready))
        return m
