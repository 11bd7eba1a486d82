"""AXI4-Lite crossbar: several managers onto several register banks, by address.

The accelerator's register banks (the command processor's, the engine's, the
cluster's) are reached by two managers: the host, and the command processor's
``REG``/``POLL`` port. :class:`AxiLiteXbar` serves one write and one read at a
time (register traffic is light): it takes a request from a manager (in turn
when several wait), decodes its address to a bank, passes it on, and returns
the bank's response to that manager. An address no bank holds answers
``DECERR`` without reaching any bank.

See :class:`AxiLiteXbar` for the ports and timing.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..refuse import Params
from .axi import AxiLiteSignature, RESP_DECERR

__all__ = ["AxiLiteXbar"]


class AxiLiteXbar(wiring.Component):
    """Managers onto banks, one write and one read at a time.

    Parameters
    ----------
    managers : int
        Manager ports, 1..4.
    banks : list of (base, addr_width)
        Each bank's base byte address and its own address width (3..32, a register
        map's); bank ``b`` holds ``[base, base + 2**addr_width)``, and ``base`` is a
        multiple of that size. The banks do not overlap.
    addr_width : int
        The managers' address width, 3..64.

    Members
    -------
    m : list of :py:`In(AxiLiteSignature(addr_width, 32))`
        The managers' ports.
    s0, s1, ... : :py:`Out(AxiLiteSignature(bank addr_width, 32))`
        The banks' ports, in the order of ``banks`` (addresses relative to the base).

    Latency and throughput
    ----------------------
    A request is registered (one cycle), then passed to its bank; the response is
    registered on its way back (one cycle). A write and a read may be in progress at once.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``managers`` outside 1..4, ``addr_width``
        outside 3..64, ``banks`` not a list of ``(base, addr_width)`` pairs of integers, a
        bank's ``addr_width`` outside 3..32 (a register map's), a bank with a negative
        base, outside the address space, not aligned to its size, or overlapping another.
    """

    def __init__(self, *, managers, banks, addr_width):
        p = Params(self, "AxiLiteXbar")
        p.int("managers", managers, 1, 4)
        p.int("addr_width", addr_width, 3, 64)
        try:
            banks = [(base, aw) for base, aw in banks]
        except (TypeError, ValueError):
            p.fail(f"banks must be a list of (base, addr_width) pairs, got {banks!r}")
        spans = []
        for k, (base, aw) in enumerate(banks):
            where = f"banks[{k}]"
            p.int(f"{where} addr_width", aw, 3, 32, " (a register map's)")
            p.int(f"{where} base", base, 0)
            size = 1 << aw
            if base % size or base + size > 1 << addr_width:
                p.fail(f"{where}: the bank at {base:#x} of {size} bytes must be aligned to its "
                       f"size and inside the {addr_width}-bit addresses")
            for j, (lo, hi) in enumerate(spans):
                if base < hi and lo < base + size:
                    p.fail(f"{where}: the bank at {base:#x} overlaps banks[{j}] at {lo:#x}")
            spans.append((base, base + size))
        self.managers, self.banks, self.addr_width = managers, list(banks), addr_width
        super().__init__({
            "m": In(AxiLiteSignature(addr_width, 32)).array(managers),
            **{f"s{k}": Out(AxiLiteSignature(aw, 32)) for k, (_, aw) in enumerate(banks)},
        })

    def _pick(self, m, valids, name):
        """A manager with a request, in turn after the last one served."""
        n = self.managers
        last = Signal(range(n), name=f"{name}_last")
        pick, found = Signal(range(n), name=f"{name}_pick"), Signal(name=f"{name}_found")
        for k in reversed(range(n)):
            c = (last + 1 + k) % n if n > 1 else 0
            idx = Signal(range(n), name=f"{name}_rr{k}")
            m.d.comb += idx.eq(c)
            with m.If(valids.bit_select(idx, 1)):
                m.d.comb += [pick.eq(idx), found.eq(1)]
        return pick, found, last

    def _decode(self, m, addr, name):
        """(bank index, hit) of a byte address."""
        bank, hit = Signal(range(max(2, len(self.banks))), name=f"{name}_bank"), Signal(name=f"{name}_hit")
        for k, (base, aw) in enumerate(self.banks):
            with m.If((addr >> aw) == (base >> aw)):
                m.d.comb += [bank.eq(k), hit.eq(1)]
        return bank, hit

    def elaborate(self, platform):
        m = Module()
        banks = [getattr(self, f"s{k}") for k in range(len(self.banks))]
        mgrs = list(self.m)
        aw = self.addr_width

        # ---- writes: AW and W of one manager, then its B ----
        w_valid = Signal(self.managers)
        for k, mk in enumerate(mgrs):
            m.d.comb += w_valid[k].eq(mk.awvalid & mk.wvalid)
        w_pick, w_found, w_last = self._pick(m, w_valid, "w")
        w_mgr = Signal(range(self.managers))
        w_addr, w_data, w_strb = Signal(aw), Signal(32), Signal(4)
        w_bank, w_hit = self._decode(m, w_addr, "w")
        w_resp = Signal(2)
        sent_aw, sent_w = Signal(), Signal()
        with m.FSM(name="wr"):
            with m.State("IDLE"):
                with m.If(w_found):
                    for k, mk in enumerate(mgrs):
                        with m.If(w_pick == k):
                            m.d.comb += [mk.awready.eq(1), mk.wready.eq(1)]
                            m.d.sync += [w_addr.eq(mk.awaddr), w_data.eq(mk.wdata),
                                         w_strb.eq(mk.wstrb)]
                    m.d.sync += [w_mgr.eq(w_pick), w_last.eq(w_pick), sent_aw.eq(0), sent_w.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(~w_hit):
                    m.d.sync += w_resp.eq(RESP_DECERR)
                    m.next = "RESP"
                for k, (b, (base, baw)) in enumerate(zip(banks, self.banks)):
                    with m.If(w_hit & (w_bank == k)):
                        m.d.comb += [b.awvalid.eq(~sent_aw), b.awaddr.eq(w_addr[:baw]),
                                     b.wvalid.eq(~sent_w), b.wdata.eq(w_data), b.wstrb.eq(w_strb),
                                     b.bready.eq(1)]
                        with m.If(b.awvalid & b.awready):
                            m.d.sync += sent_aw.eq(1)
                        with m.If(b.wvalid & b.wready):
                            m.d.sync += sent_w.eq(1)
                        with m.If(b.bvalid):
                            m.d.sync += w_resp.eq(b.bresp)
                            m.next = "RESP"
            with m.State("RESP"):
                for k, mk in enumerate(mgrs):
                    with m.If(w_mgr == k):
                        m.d.comb += [mk.bvalid.eq(1), mk.bresp.eq(w_resp)]
                        with m.If(mk.bready):
                            m.next = "IDLE"

        # ---- reads ----
        r_valid = Signal(self.managers)
        for k, mk in enumerate(mgrs):
            m.d.comb += r_valid[k].eq(mk.arvalid)
        r_pick, r_found, r_last = self._pick(m, r_valid, "r")
        r_mgr = Signal(range(self.managers))
        r_addr, r_data, r_resp = Signal(aw), Signal(32), Signal(2)
        r_bank, r_hit = self._decode(m, r_addr, "r")
        sent_ar = Signal()
        with m.FSM(name="rd"):
            with m.State("IDLE"):
                with m.If(r_found):
                    for k, mk in enumerate(mgrs):
                        with m.If(r_pick == k):
                            m.d.comb += mk.arready.eq(1)
                            m.d.sync += r_addr.eq(mk.araddr)
                    m.d.sync += [r_mgr.eq(r_pick), r_last.eq(r_pick), sent_ar.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(~r_hit):
                    m.d.sync += [r_resp.eq(RESP_DECERR), r_data.eq(0)]
                    m.next = "RESP"
                for k, (b, (base, baw)) in enumerate(zip(banks, self.banks)):
                    with m.If(r_hit & (r_bank == k)):
                        m.d.comb += [b.arvalid.eq(~sent_ar), b.araddr.eq(r_addr[:baw]),
                                     b.rready.eq(1)]
                        with m.If(b.arvalid & b.arready):
                            m.d.sync += sent_ar.eq(1)
                        with m.If(b.rvalid):
                            m.d.sync += [r_resp.eq(b.rresp), r_data.eq(b.rdata)]
                            m.next = "RESP"
            with m.State("RESP"):
                for k, mk in enumerate(mgrs):
                    with m.If(r_mgr == k):
                        m.d.comb += [mk.rvalid.eq(1), mk.rresp.eq(r_resp), mk.rdata.eq(r_data)]
                        with m.If(mk.rready):
                            m.next = "IDLE"
        return m
