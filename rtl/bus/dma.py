"""AXI4 master DMA: tile reads and writes between external memory and streams.

Two independent engines share one AXI4 port, as AXI's read and write channels
are independent:

* **read engine**: takes a command ``{addr, length, tag}`` from ``rd_cmd``,
  splits it into INCR bursts of at most ``max_burst`` beats that never cross a
  4 KiB boundary, and keeps up to ``max_outstanding_reads`` bursts in flight.
  Read data leaves in order on ``rd_data`` as ``{data, tag, last}`` (``last``
  on the final beat of a command); ``rready`` is ``rd_data.ready``. The next
  command is accepted as soon as the previous one's bursts are all issued.
* **write engine**: takes ``{addr, length}`` from ``wr_cmd``, issues one burst
  at a time (AW, then its W beats from ``wr_data``), and keeps up to
  ``max_outstanding_writes`` write responses outstanding.

Every command is checked when it is accepted, every error response is reported with
the address it answered, and a watchdog ends any wait on a subordinate that stops
answering (see :class:`Dma` for what a bad command, an error response and a timeout do,
its parameters, ports and latency).
"""

from amaranth.hdl import Module, Mux, ResetSignal, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .axi import AxiSignature, BURST_INCR, BOUNDARY_4K

__all__ = ["Dma", "ERR_BITS", "rd_cmd_layout", "wr_cmd_layout", "rd_data_layout"]

#: Sticky error bits of :attr:`Dma.errors`.
ERR_BITS = {
    "rd_zero": 0, "rd_unaligned": 1, "rd_range": 2, "rd_bus": 3,
    "wr_zero": 4, "wr_unaligned": 5, "wr_range": 6, "wr_bus": 7,
    "rd_timeout": 8, "wr_timeout": 9,
}


def rd_cmd_layout(addr_width, tag_width):
    return data.StructLayout({"addr": unsigned(addr_width), "length": unsigned(addr_width),
                              "tag": unsigned(max(tag_width, 1))})


def wr_cmd_layout(addr_width):
    return data.StructLayout({"addr": unsigned(addr_width), "length": unsigned(addr_width)})


def rd_data_layout(data_width, tag_width):
    return data.StructLayout({"data": unsigned(data_width), "tag": unsigned(max(tag_width, 1)),
                              "last": unsigned(1)})


def _log2(v):
    return v.bit_length() - 1


class Dma(wiring.Component):
    """An AXI4 master with a read engine and a write engine: tile transfers between external
    memory and streams.

    Parameters
    ----------
    addr_width : int
        AXI address width, 32..64.
    data_width : int
        AXI data width: 32, 64 or 128.
    max_burst : int
        Longest burst in beats, 1..256.
    max_outstanding_reads, max_outstanding_writes : int
        Bursts in flight, 1..16 each.
    tag_width : int
        Bits of the read-command tag carried to ``rd_data``, 1..16.
    watchdog : int
        Cycles a wait on the subordinate may last (an address not accepted, a read beat
        not delivered while ``rd_data`` is ready, write data not taken, a write response
        not given) before the engine gives the transfer up: 16..2**24.

    Members
    -------
    axi : :py:`Out(AxiSignature(addr_width, data_width))`
        The AXI4 master port (INCR bursts only).
    rd_cmd : :py:`In(stream.Signature(rd_cmd_layout(addr_width, tag_width)))`
        Read commands ``{addr, length, tag}``, ``length`` in bytes.
    rd_data : :py:`Out(stream.Signature(rd_data_layout(data_width, tag_width)))`
        Read data ``{data, tag, last}``, in order; ``last`` on a command's final beat.
    wr_cmd : :py:`In(stream.Signature(wr_cmd_layout(addr_width)))`
        Write commands ``{addr, length}``.
    wr_data : :py:`In(stream.Signature(unsigned(data_width)))`
        Write data, one beat per bus word of the commands, in order.
    limit : :py:`In(addr_width)`
        Highest byte address the DMA may touch.
    clear_counters : :py:`In(1)`
        Clears the counters below.
    clear_errors : :py:`In(len(ERR_BITS))`
        Clears the error bits set in it.
    errors : :py:`Out(len(ERR_BITS))`
        Sticky error bits, positions :data:`ERR_BITS`.
    rd_err_addr, wr_err_addr : :py:`Out(addr_width)`
        The address of the first read beat (the first write burst) answered with a
        non-OKAY response (or a wrong ID) since ``rd_bus`` (``wr_bus``) was last clear.
    rd_busy, wr_busy : :py:`Out(1)`
        A command of that engine is being issued or has bursts outstanding.
    rd_bytes, wr_bytes : :py:`Out(64)`
        Data beats × bytes per beat that crossed the bus.
    rd_bursts, wr_bursts : :py:`Out(32)`
        Bursts issued.
    rd_peak_outstanding : :py:`Out(8)`
        The most read bursts ever in flight at once.

    Latency and throughput
    ----------------------
    A command's AR (or AW) leaves the cycle after the command is accepted; read data
    passes through combinationally from R to ``rd_data`` (``rready`` is
    ``rd_data.ready``); W beats take ``wr_data`` combinationally. The read engine accepts
    its next command as soon as the previous one's bursts are all issued and keeps up to
    ``max_outstanding_reads`` bursts in flight; the write engine issues one burst at a
    time with up to ``max_outstanding_writes`` responses outstanding.

    Bad input
    ---------
    A zero length, an address or a length that is not a multiple of the bus width in
    bytes, or a range that passes ``limit`` sets a sticky error bit and the command is
    dropped: nothing is issued, no write data is consumed, and the engine takes the next
    command on the next cycle. A non-OKAY ``rresp``/``bresp``, or a response whose
    ``rid``/``bid`` is not the one ID the DMA issues (0), sets a bus-error bit and
    records its address (``rd_err_addr``, ``wr_err_addr``); the data is still
    delivered/written, so a consumer counting beats never waits for beats that will not
    come (the accelerator's command processor stops its program on the error). Errors
    stay set until ``clear_errors``.

    A subordinate that stops answering for ``watchdog`` cycles sets ``rd_timeout`` or
    ``wr_timeout``, and that engine gives its transfer up: the read engine drops the rest
    of its command and its bursts in flight (beats that still come for them are taken
    and discarded); the write engine takes and discards the rest of its command's write
    data (so the producer is never stuck) and forgets its outstanding responses. Either
    engine then takes the next command; ``rd_busy``/``wr_busy`` drop. A subordinate that
    timed out mid-burst has broken the protocol: reset it before trusting it again. The
    timeout itself breaks AXI's rule that a ``valid`` stays up until ``ready`` (A3.2.1):
    the engine withdraws an AR, AW or W the subordinate never took, and a write given up
    mid-burst leaves an accepted AW short of its W beats. That is the watchdog's purpose (a
    subordinate that stopped answering cannot be waited for); the formal proof
    (``testbench/formal_dma.py``) holds every AXI rule except at those expiries. No command
    is taken on the cycle an engine's watchdog expires.

    Raises
    ------
    ValueError
        At construction, naming the configuration knob: a width, burst length or
        outstanding count out of range.
    """

    def __init__(self, *, addr_width=32, data_width=64, max_burst=16, max_outstanding_reads=4,
                 max_outstanding_writes=4, tag_width=2, watchdog=1 << 16):
        def refuse(msg):
            self._MustUse__silence = True
            raise ValueError(msg)
        if data_width not in (32, 64, 128):
            refuse(f"axi_data_width must be 32, 64 or 128, got {data_width}")
        if not 32 <= addr_width <= 64:
            refuse(f"axi_addr_width must be between 32 and 64, got {addr_width}")
        if not 1 <= max_burst <= 256:
            refuse(f"axi_max_burst must be between 1 and 256, got {max_burst}")
        if not 1 <= max_outstanding_reads <= 16:
            refuse(f"axi_max_outstanding_reads must be between 1 and 16, got {max_outstanding_reads}")
        if not 1 <= max_outstanding_writes <= 16:
            refuse(f"max_outstanding_writes must be between 1 and 16, got {max_outstanding_writes}")
        if not isinstance(tag_width, int) or not 1 <= tag_width <= 16:
            refuse(f"tag_width must be between 1 and 16, got {tag_width}")
        if not isinstance(watchdog, int) or not 16 <= watchdog <= 1 << 24:
            refuse(f"watchdog must be between 16 and 2**24 cycles, got {watchdog}")
        self.watchdog = watchdog
        self.addr_width, self.data_width = addr_width, data_width
        self.max_burst = max_burst
        self.max_outstanding_reads = max_outstanding_reads
        self.max_outstanding_writes = max_outstanding_writes
        self.tag_width = max(tag_width, 1)
        self.bytes_per_beat = data_width // 8
        super().__init__({
            "axi": Out(AxiSignature(addr_width, data_width)),
            "rd_cmd": In(stream.Signature(rd_cmd_layout(addr_width, tag_width))),
            "rd_data": Out(stream.Signature(rd_data_layout(data_width, tag_width))),
            "wr_cmd": In(stream.Signature(wr_cmd_layout(addr_width))),
            "wr_data": In(stream.Signature(unsigned(data_width))),
            "limit": In(addr_width),
            "clear_counters": In(1),
            "clear_errors": In(len(ERR_BITS)),
            "errors": Out(len(ERR_BITS)),
            "rd_err_addr": Out(addr_width),
            "wr_err_addr": Out(addr_width),
            "rd_busy": Out(1),
            "wr_busy": Out(1),
            "rd_bytes": Out(64),
            "wr_bytes": Out(64),
            "rd_bursts": Out(32),
            "wr_bursts": Out(32),
            "rd_peak_outstanding": Out(8),
        })

    # --- helpers -----------------------------------------------------------
    def _check(self, m, cmd, prefix):
        """Combinational error flags of a command: (zero, unaligned, out of range)."""
        s = _log2(self.bytes_per_beat)
        zero = Signal(name=f"{prefix}_zero")
        unaligned = Signal(name=f"{prefix}_unaligned")
        out_of_range = Signal(name=f"{prefix}_range")
        m.d.comb += [
            zero.eq(cmd.length == 0),
            unaligned.eq((cmd.addr[:s] != 0) | (cmd.length[:s] != 0)),
            out_of_range.eq((cmd.addr + cmd.length) > (self.limit + 1)),
        ]
        return zero, unaligned, out_of_range

    def _burst(self, m, addr, left, prefix):
        """Beats of the next burst: min(left, max_burst, beats up to the 4 KiB boundary)."""
        s = _log2(self.bytes_per_beat)
        page_beats = BOUNDARY_4K >> s
        to_4k = Signal(range(page_beats + 1), name=f"{prefix}_to_4k")
        m.d.comb += to_4k.eq(page_beats - addr[s:12])
        cap = Signal(range(max(self.max_burst, page_beats) + 1), name=f"{prefix}_cap")
        m.d.comb += cap.eq(Mux(to_4k < self.max_burst, to_4k, self.max_burst))
        burst = Signal(range(max(self.max_burst, page_beats) + 1), name=f"{prefix}_burst")
        m.d.comb += burst.eq(Mux(left < cap, left, cap))
        return burst

    def _watchdog(self, m, waiting, prefix):
        """A signal, high for one cycle when ``waiting`` has held ``watchdog`` cycles in a
        row (the count restarts whenever it drops)."""
        count = Signal(range(self.watchdog + 1), name=f"{prefix}_waited")
        expired = Signal(name=f"{prefix}_expired")
        m.d.comb += expired.eq(waiting & (count == self.watchdog - 1))
        m.d.sync += count.eq(Mux(waiting & ~expired, count + 1, 0))
        return expired

    @staticmethod
    def _give_up(m, expired, left):
        """In a write state: on the watchdog's expiry, drop the data the command still owes
        (``DROP``), or go idle if it owes none."""
        with m.If(expired):
            m.next = "DROP"
            with m.If(left == 0):
                m.next = "IDLE"

    @staticmethod
    def _refuse(m, set_err, kind, zero, unaligned, out_of_range):
        """Set the error bit of a ``kind`` (``rd``/``wr``) command's first fault, in this
        priority: zero length, unaligned, out of range. The caller's ``m.Else()`` follows
        and takes a command with none."""
        with m.If(zero):
            m.d.comb += set_err[ERR_BITS[f"{kind}_zero"]].eq(1)
        with m.Elif(unaligned):
            m.d.comb += set_err[ERR_BITS[f"{kind}_unaligned"]].eq(1)
        with m.Elif(out_of_range):
            m.d.comb += set_err[ERR_BITS[f"{kind}_range"]].eq(1)

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        s = _log2(self.bytes_per_beat)
        beats_shape = unsigned(self.addr_width - s + 1)

        set_err = Signal(len(ERR_BITS))
        errors = Signal(len(ERR_BITS))
        m.d.sync += errors.eq((errors & ~self.clear_errors) | set_err)
        m.d.comb += self.errors.eq(errors)

        # ---------------- read engine ----------------
        rd_active = Signal()
        rd_addr = Signal(self.addr_width)
        rd_left = Signal(beats_shape)
        rd_tag = Signal(self.tag_width)
        # one entry per burst in flight: its tag, whether it ends its command, its address
        m.submodules.rd_fifo = rd_fifo = SyncFIFO(width=self.tag_width + 1 + self.addr_width,
                                                  depth=self.max_outstanding_reads)
        head_tag = rd_fifo.r_data[:self.tag_width]
        head_ends = rd_fifo.r_data[self.tag_width]
        head_addr = rd_fifo.r_data[self.tag_width + 1:]
        # bursts given up by the watchdog, at the head of the FIFO: their beats are dropped
        rd_orphans = Signal(range(self.max_outstanding_reads + 1))
        orphan = rd_orphans != 0
        live = rd_fifo.level > rd_orphans

        zero, unaligned, out_of_range = self._check(m, self.rd_cmd.payload, "rd")
        # No command is taken on the cycle the watchdog gives up the previous one's bursts
        # (its clearing of rd_active would drop the new command).
        rd_giving_up = Signal()
        m.d.comb += self.rd_cmd.ready.eq(~rd_active & ~rd_giving_up)
        with m.If(self.rd_cmd.valid & ~rd_active & ~rd_giving_up):
            self._refuse(m, set_err, "rd", zero, unaligned, out_of_range)
            with m.Else():
                m.d.sync += [rd_active.eq(1), rd_addr.eq(self.rd_cmd.payload.addr),
                             rd_left.eq(self.rd_cmd.payload.length >> s),
                             rd_tag.eq(self.rd_cmd.payload.tag)]

        rd_burst = self._burst(m, rd_addr, rd_left, "rd")
        rd_last_burst = rd_burst == rd_left
        ar_fire = axi.arvalid & axi.arready
        m.d.comb += [
            axi.arvalid.eq(rd_active & rd_fifo.w_rdy),
            axi.araddr.eq(rd_addr), axi.arlen.eq(rd_burst - 1), axi.arsize.eq(s),
            axi.arburst.eq(BURST_INCR), axi.arid.eq(0),
            rd_fifo.w_data.eq(rd_tag | (rd_last_burst << self.tag_width)
                              | (rd_addr << (self.tag_width + 1))),
            rd_fifo.w_en.eq(ar_fire),
        ]
        rd_bursts = Signal(32)
        with m.If(ar_fire):
            m.d.sync += [rd_addr.eq(rd_addr + (rd_burst << s)), rd_left.eq(rd_left - rd_burst),
                         rd_bursts.eq(rd_bursts + 1)]
            with m.If(rd_last_burst):
                m.d.sync += rd_active.eq(0)

        rd_fire = axi.rvalid & axi.rready
        rd_beat = Signal(range(max(self.max_burst, 2)))       # beat of the head burst
        m.d.comb += [
            self.rd_data.valid.eq(axi.rvalid & ~orphan),
            self.rd_data.payload.data.eq(axi.rdata),
            self.rd_data.payload.tag.eq(head_tag),
            self.rd_data.payload.last.eq(axi.rlast & head_ends),
            axi.rready.eq(orphan | self.rd_data.ready),
            rd_fifo.r_en.eq(rd_fire & axi.rlast),
            self.rd_busy.eq(rd_active | live),
        ]
        with m.If(rd_fire):
            m.d.sync += rd_beat.eq(Mux(axi.rlast, 0, rd_beat + 1))
        with m.If(rd_fire & axi.rlast & orphan):
            m.d.sync += rd_orphans.eq(rd_orphans - 1)
        rd_err_addr = Signal(self.addr_width)
        with m.If(rd_fire & ~orphan & ((axi.rresp != 0) | (axi.rid != 0))):
            m.d.comb += set_err[ERR_BITS["rd_bus"]].eq(1)
            with m.If(~errors[ERR_BITS["rd_bus"]]):
                m.d.sync += rd_err_addr.eq(head_addr + (rd_beat << s))
        # the watchdog: owed an address handshake or beats, and the subordinate offers none
        rd_wait = (rd_active | live) & ~ar_fire & ~axi.rvalid
        m.d.comb += rd_giving_up.eq(self._watchdog(m, rd_wait, "rd"))
        with m.If(rd_giving_up):
            m.d.comb += set_err[ERR_BITS["rd_timeout"]].eq(1)
            m.d.sync += [rd_active.eq(0),
                         rd_orphans.eq(rd_fifo.level + rd_fifo.w_en - rd_fifo.r_en)]
        rd_bytes = Signal(64)
        peak = Signal(8)
        with m.If(rd_fire & ~orphan):
            m.d.sync += rd_bytes.eq(rd_bytes + self.bytes_per_beat)
        with m.If(rd_fifo.level > peak):
            m.d.sync += peak.eq(rd_fifo.level)

        # ---------------- write engine ----------------
        wr_addr = Signal(self.addr_width)
        wr_left = Signal(beats_shape)
        wr_beats = Signal(range(self.max_burst + 1))
        wr_drop = Signal(beats_shape)                  # write data to discard after a timeout
        wr_bursts = Signal(32)
        wr_bytes = Signal(64)
        # one entry per burst awaiting its response: its address
        m.submodules.wr_fifo = wr_fifo = SyncFIFO(width=self.addr_width,
                                                  depth=self.max_outstanding_writes)
        wr_orphans = Signal(range(self.max_outstanding_writes + 1))
        wr_live = wr_fifo.level > wr_orphans
        zero_w, unaligned_w, range_w = self._check(m, self.wr_cmd.payload, "wr")
        wr_burst = self._burst(m, wr_addr, wr_left, "wr")
        aw_fire = axi.awvalid & axi.awready
        w_fire = axi.wvalid & axi.wready
        b_fire = axi.bvalid & axi.bready
        m.d.comb += [axi.awaddr.eq(wr_addr), axi.awlen.eq(wr_burst - 1), axi.awsize.eq(s),
                     axi.awburst.eq(BURST_INCR), axi.awid.eq(0), axi.bready.eq(1),
                     axi.wstrb.eq(-1), axi.wdata.eq(self.wr_data.payload),
                     wr_fifo.w_data.eq(wr_addr), wr_fifo.w_en.eq(aw_fire),
                     wr_fifo.r_en.eq(b_fire)]
        with m.If(b_fire & (wr_orphans != 0)):
            m.d.sync += wr_orphans.eq(wr_orphans - 1)
        wr_err_addr = Signal(self.addr_width)
        with m.If(b_fire & (wr_orphans == 0) & ((axi.bresp != 0) | (axi.bid != 0))):
            m.d.comb += set_err[ERR_BITS["wr_bus"]].eq(1)
            with m.If(~errors[ERR_BITS["wr_bus"]]):
                m.d.sync += wr_err_addr.eq(wr_fifo.r_data)

        # the watchdog: owed an address or data handshake (data at hand) or a response, and
        # the subordinate gives none
        in_aw, in_w = Signal(), Signal()
        owes = in_aw | (in_w & self.wr_data.valid) | wr_live
        wr_expired = self._watchdog(m, owes & ~aw_fire & ~w_fire & ~axi.bvalid, "wr")
        left = Signal(beats_shape)                     # data the command still owes
        m.d.comb += left.eq(Mux(in_w, wr_beats, 0) + wr_left)
        with m.If(wr_expired):
            m.d.comb += set_err[ERR_BITS["wr_timeout"]].eq(1)
            m.d.sync += [wr_orphans.eq(wr_fifo.level), wr_drop.eq(left)]

        with m.FSM(name="wr_fsm") as wr_fsm:
            with m.State("IDLE"):
                # (~rst: Icarus runs an always @* block only on an input change, and the
                # state register may never change before the first command.)
                m.d.comb += self.wr_cmd.ready.eq(~ResetSignal())
                with m.If(self.wr_cmd.valid):
                    self._refuse(m, set_err, "wr", zero_w, unaligned_w, range_w)
                    with m.Else():
                        m.d.sync += [wr_addr.eq(self.wr_cmd.payload.addr),
                                     wr_left.eq(self.wr_cmd.payload.length >> s)]
                        m.next = "AW"
            with m.State("AW"):
                m.d.comb += axi.awvalid.eq(wr_fifo.w_rdy)
                with m.If(aw_fire):
                    m.d.sync += [wr_beats.eq(wr_burst), wr_addr.eq(wr_addr + (wr_burst << s)),
                                 wr_left.eq(wr_left - wr_burst), wr_bursts.eq(wr_bursts + 1)]
                    m.next = "W"
                self._give_up(m, wr_expired, left)
            with m.State("W"):
                m.d.comb += [axi.wvalid.eq(self.wr_data.valid), self.wr_data.ready.eq(axi.wready),
                             axi.wlast.eq(wr_beats == 1)]
                with m.If(w_fire):
                    m.d.sync += [wr_beats.eq(wr_beats - 1), wr_bytes.eq(wr_bytes + self.bytes_per_beat)]
                    with m.If((wr_beats == 1) & (wr_left == 0)):
                        m.next = "IDLE"
                    with m.Elif(wr_beats == 1):
                        m.next = "AW"
                self._give_up(m, wr_expired, left)
            with m.State("DROP"):
                # after a timeout: take the rest of the command's data, so its producer ends
                m.d.comb += self.wr_data.ready.eq(1)
                with m.If(self.wr_data.valid):
                    m.d.sync += wr_drop.eq(wr_drop - 1)
                    with m.If(wr_drop == 1):
                        m.next = "IDLE"
        m.d.comb += [in_aw.eq(wr_fsm.ongoing("AW")), in_w.eq(wr_fsm.ongoing("W")),
                     self.wr_busy.eq(~wr_fsm.ongoing("IDLE") | wr_live)]
        m.d.comb += [self.rd_err_addr.eq(rd_err_addr), self.wr_err_addr.eq(wr_err_addr)]

        with m.If(self.clear_counters):
            m.d.sync += [rd_bytes.eq(0), wr_bytes.eq(0), rd_bursts.eq(0), wr_bursts.eq(0), peak.eq(0)]
        m.d.comb += [self.rd_bytes.eq(rd_bytes), self.wr_bytes.eq(wr_bytes),
                     self.rd_bursts.eq(rd_bursts), self.wr_bursts.eq(wr_bursts),
                     self.rd_peak_outstanding.eq(peak)]
        return m
