"""An AXI4 subordinate in front of a word memory, at a set latency and bandwidth.

:class:`AxiRam` answers an AXI4 manager port from a *storage* port: one word
access a cycle (:class:`StorageSignature`), a read's data the cycle after its
address. The storage is whatever the platform has: a ``lib.memory`` for a few
kilobytes, a board's block RAM, or, in simulation, a plain Verilog array of
megabytes with a backdoor for the host (``testbench/sim_system.py``).

The memory is a shared resource, as a DRAM is: one beat a cycle at most, read
or write, and over time no more than ``rate_num / rate_den`` beats a cycle
(``rate_num``, ``rate_den`` and ``latency`` are ports, so a bench sweeps them
without rebuilding):

* **bandwidth**: a token bucket. Each cycle adds ``rate_num`` tokens (up to
  ``rate_num + rate_den``); a beat, read or write, takes ``rate_den``.
  ``rate_num == rate_den`` is the full rate; ``rate_num = 0`` stops the memory,
  which only the manager's own time-outs then end.
* **latency**: a read beat is offered on R no sooner than ``latency`` cycles
  after its word was read (``latency`` 0 or 1: the cycle after). Beats after
  the first of a burst follow at the bandwidth, so a long burst hides the
  latency and many short ones pay it each time. Up to ``max_latency + 4``
  beats are in flight, enough to keep the full rate at the largest latency.
* **order**: one read burst and one write burst are accepted at a time; reads
  leave in the order they were asked for, whatever their ``arid``; R and B
  carry the ID of their request.
* **range**: a beat at or beyond ``size`` bytes answers ``DECERR`` (a read
  returns 0, a write is dropped).
* when a read beat and a write beat both can go, they take turns.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

from ..refuse import refuse
from .axi import RESP_DECERR, RESP_OKAY, AxiSignature

__all__ = ["AxiRam", "StorageSignature"]


class StorageSignature(wiring.Signature):
    """A word memory, user side: ``addr`` (a word index), ``re`` (``rdata`` holds the word the
    next cycle), ``we`` with ``wdata`` and byte enables ``wstrb``."""

    def __init__(self, addr_width, data_width):
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "addr": Out(addr_width), "re": Out(1), "rdata": In(data_width),
            "we": Out(1), "wdata": Out(data_width), "wstrb": Out(data_width // 8),
        })


class AxiRam(wiring.Component):
    """An AXI4 memory of ``size`` bytes on a storage port (see the module).

    Parameters
    ----------
    size : int
        Bytes of memory, a power of two and a multiple of the data width's bytes.
    addr_width, data_width, id_width : int
        Of the AXI port.
    max_latency : int
        The largest ``latency`` the port may be set to (1..255); the read queue holds
        ``max_latency + 4`` beats.

    Members
    -------
    axi : :py:`In(AxiSignature(addr_width, data_width, id_width))`
        The subordinate port.
    storage : :py:`Out(StorageSignature(log2(size / bytes), data_width))`
        The words.
    rate_num, rate_den : :py:`In(8)`
        The bandwidth, ``rate_num / rate_den`` beats a cycle (``rate_num <= rate_den``;
        ``rate_den`` >= 1).
    latency : :py:`In(8)`
        Cycles from a word's read to its R beat (at most ``max_latency``).
    reads, writes : :py:`Out(32)`
        Beats read and written since reset.

    Latency and throughput
    ----------------------
    An AR or AW is taken the cycle it is offered when no burst of its kind is in
    progress; the first word is read the next cycle. One beat a cycle at the full rate.

    Raises
    ------
    ValueError
        At construction: ``size`` not a power of two, or below one word, or wider than
        ``addr_width``; ``max_latency`` out of 1..255.
    """

    def __init__(self, *, size, addr_width=32, data_width=128, id_width=1, max_latency=32):
        nbytes = data_width // 8
        if size < nbytes or size & (size - 1):
            refuse(self, f"size must be a power of two of at least {nbytes} bytes, got {size}")
        if size > 1 << addr_width:
            refuse(self, f"size {size} does not fit addr_width {addr_width}")
        if not 1 <= max_latency <= 255:
            refuse(self, f"max_latency must be 1..255, got {max_latency}")
        self.size, self.addr_width, self.data_width = size, addr_width, data_width
        self.id_width, self.max_latency = id_width, max_latency
        self.word_bits = (size // nbytes).bit_length() - 1
        super().__init__({
            "axi": In(AxiSignature(addr_width, data_width, id_width)),
            "storage": Out(StorageSignature(max(self.word_bits, 1), data_width)),
            "rate_num": In(8), "rate_den": In(8), "latency": In(8),
            "reads": Out(32), "writes": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        p, st = self.axi, self.storage
        nbytes = self.data_width // 8
        shift = nbytes.bit_length() - 1
        depth = self.max_latency + 4

        now = Signal(32)
        m.d.sync += now.eq(now + 1)

        # --- bandwidth: a token bucket shared by reads and writes --------------------------
        tokens = Signal(9)
        spend = Signal()
        may = tokens >= self.rate_den
        filled = tokens + self.rate_num - Mux(spend, self.rate_den, 0)
        cap = self.rate_num + self.rate_den
        m.d.sync += tokens.eq(Mux(filled > cap, cap, filled))

        # --- read bursts: one at a time, words read into a timed queue ----------------------
        r_on, r_addr, r_left, r_id = Signal(), Signal(self.addr_width), Signal(8), Signal(self.id_width)
        m.d.comb += p.arready.eq(~r_on)
        with m.If(p.arvalid & ~r_on):
            m.d.sync += [r_on.eq(1), r_addr.eq(p.araddr), r_left.eq(p.arlen), r_id.eq(p.arid)]

        beat = data.StructLayout({"data": self.data_width, "resp": 2, "last": 1,
                                  "id": self.id_width, "due": 32})
        m.submodules.rq = rq = fifo.SyncFIFOBuffered(width=beat.size, depth=depth)
        in_flight = Signal(range(depth + 2))           # in the queue, or being read
        issued = Signal()
        pend = Signal(beat)                             # the word read last cycle, its resp
        pend_on = Signal()
        read_ok = Signal()

        # --- write bursts: one at a time, B through a small queue ---------------------------
        w_on, w_addr, w_id, w_resp = Signal(), Signal(self.addr_width), Signal(self.id_width), Signal(2)
        m.submodules.bq = bq = fifo.SyncFIFOBuffered(width=self.id_width + 2, depth=2)
        m.d.comb += p.awready.eq(~w_on)
        with m.If(p.awvalid & ~w_on):
            m.d.sync += [w_on.eq(1), w_addr.eq(p.awaddr), w_id.eq(p.awid), w_resp.eq(RESP_OKAY)]

        # --- the one storage port: reads and writes take turns -------------------------------
        want_r = r_on & may & (in_flight < depth)
        want_w = w_on & p.wvalid & may & bq.w_rdy
        last_read = Signal()
        go_r = want_r & ~(want_w & last_read)
        go_w = want_w & ~go_r
        in_range_r = r_addr < self.size
        in_range_w = w_addr < self.size
        m.d.comb += [
            spend.eq(go_r | go_w),
            issued.eq(go_r),
            st.addr.eq(Mux(go_w, w_addr, r_addr) >> shift),
            st.re.eq(go_r & in_range_r),
            st.we.eq(go_w & in_range_w),
            st.wdata.eq(p.wdata),
            st.wstrb.eq(p.wstrb),
            p.wready.eq(go_w),
        ]
        with m.If(go_r | go_w):
            m.d.sync += last_read.eq(go_r)

        with m.If(go_r):
            m.d.sync += [
                r_addr.eq(r_addr + nbytes),
                r_left.eq(r_left - 1),
                pend.resp.eq(Mux(in_range_r, RESP_OKAY, RESP_DECERR)),
                pend.last.eq(r_left == 0),
                pend.id.eq(r_id),
                pend.due.eq(now + Mux(self.latency > 1, self.latency, 1)),
            ]
            with m.If(r_left == 0):
                m.d.sync += r_on.eq(0)
        m.d.sync += pend_on.eq(go_r)
        m.d.comb += read_ok.eq(pend.resp == RESP_OKAY)

        entry = Signal(beat)
        m.d.comb += [
            entry.eq(pend),
            entry.data.eq(Mux(read_ok, st.rdata, 0)),
            rq.w_data.eq(entry),
            rq.w_en.eq(pend_on),
        ]
        head = Signal(beat)
        m.d.comb += head.eq(rq.r_data)
        due = (now - head.due)[31] == 0                  # now >= due, across the counter's wrap
        m.d.comb += [
            p.rvalid.eq(rq.r_rdy & due),
            p.rdata.eq(head.data),
            p.rresp.eq(head.resp),
            p.rlast.eq(head.last),
            p.rid.eq(head.id),
            rq.r_en.eq(p.rready & due),
        ]
        took = p.rvalid & p.rready
        m.d.sync += in_flight.eq(in_flight + go_r - took)

        with m.If(go_w):
            m.d.sync += w_addr.eq(w_addr + nbytes)
            with m.If(~in_range_w):
                m.d.sync += w_resp.eq(RESP_DECERR)
        resp_now = Mux(in_range_w, w_resp, RESP_DECERR)
        m.d.comb += [
            bq.w_data.eq(Cat(resp_now, w_id)),
            bq.w_en.eq(go_w & p.wlast),
            p.bvalid.eq(bq.r_rdy),
            p.bresp.eq(bq.r_data[:2]),
            p.bid.eq(bq.r_data[2:]),
            bq.r_en.eq(p.bready),
        ]
        with m.If(go_w & p.wlast):
            m.d.sync += w_on.eq(0)

        m.d.sync += [self.reads.eq(self.reads + go_r), self.writes.eq(self.writes + go_w)]
        return m
