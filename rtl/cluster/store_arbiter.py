"""Store arbitration: the cores' tiles, one at a time and round-robin, to the DMA's write engine.

Each core has a queue of write commands (``STORE`` instructions name the core
whose tile they store) and a stream of tile words from its store adapter. A
core is *ready to store* when its queue holds a command and its first tile
word is offered. The arbiter grants ready cores in round-robin order, starting
after the last core granted: it forwards the core's command to ``wr_cmd``,
then passes exactly the command's ``length`` bytes of that core's words to
``st``, and only then moves on. Tiles are never interleaved, so the DMA
writes each where its command says, and the ROLIN statistics unit on the
store path sees whole maps.

No deadlock when every core stores at once: a granted tile needs only the
DMA's write engine, which always drains, so every grant ends and the others
follow in turn; no core waits more than ``cores − 1`` tiles.

See :class:`StoreArbiter` for its parameters, ports and timing.
"""

from contextlib import nullcontext

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..refuse import Params
from ..bus.dma import wr_cmd_layout
from .ports import store_cmd_layout

__all__ = ["StoreArbiter"]


class StoreArbiter(wiring.Component):
    """Round-robin arbitration of whole tiles between cores, onto one write engine.

    Parameters
    ----------
    cores : int
        Cores, 1..16.
    addr_width : int
        Of the write commands, 32..64 (the DMA's).
    word_width : int
        Bits of a store word (the bus width): a power of two, 8..1024.
    queue_depth : int
        Write commands each core's queue holds, at least 1.

    Members
    -------
    cmd : :py:`In(stream.Signature(store_cmd_layout(addr_width, cores)))`
        Write commands, each for one core's next tile; into that core's queue.
    tiles : list of :py:`In(stream.Signature(unsigned(word_width)))`
        Each core's tile words.
    wr_cmd : :py:`Out(stream.Signature(wr_cmd_layout(addr_width)))`
        To the DMA's write engine, one per grant.
    st : :py:`Out(stream.Signature(unsigned(word_width)))`
        The granted tile's words.
    waiting : :py:`Out(cores)`
        Bit ``c``: core ``c`` is ready to store and not granted this cycle.
    error : :py:`Out(1)`
        Sticky: a command named a core that does not exist, or a length that is not a
        whole number of words (the command is dropped).
    error_clear : :py:`In(1)`
    tile_done : :py:`Out(1)`
        One cycle: a grant passed its last word.
    pending : :py:`Out(cores)`
        Bit ``c``: a command for core ``c`` is queued or being served.
    flush : :py:`In(1)`
        No new grant; the grant being served passes its remaining words, zeros where its
        core has none to offer, so the write engine's command ends.
    quiet : :py:`Out(1)`
        No grant is being served.

    Latency and throughput
    ----------------------
    A grant takes one cycle to decide and forwards its command the next; then one word a
    cycle passes as both sides allow. One cycle between tiles.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``cores`` outside 1..16, ``addr_width``
        outside 32..64, ``word_width`` not a power of two in 8..1024 (lengths are checked
        and counted in words by their low address bits), ``queue_depth`` below 1.
    """

    def __init__(self, *, cores, addr_width=32, word_width=64, queue_depth=4):
        p = Params(self, "StoreArbiter")
        p.int("cores", cores, 1, 16)
        p.int("addr_width", addr_width, 32, 64, " (the DMA's AXI4 addresses)")
        p.pow2("word_width", word_width, 8, 1024, " (whole bytes, an AXI4 data bus)")
        p.int("queue_depth", queue_depth, 1)
        self.cores, self.addr_width, self.word_width = cores, addr_width, word_width
        self.queue_depth = queue_depth
        super().__init__({
            "cmd": In(stream.Signature(store_cmd_layout(addr_width, cores))),
            "tiles": In(stream.Signature(unsigned(word_width))).array(cores),
            "wr_cmd": Out(stream.Signature(wr_cmd_layout(addr_width))),
            "st": Out(stream.Signature(unsigned(word_width))),
            "waiting": Out(cores),
            "error": Out(1),
            "error_clear": In(1),
            "tile_done": Out(1),
            "pending": Out(cores),
            "flush": In(1),
            "quiet": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n, aw = self.cores, self.addr_width
        lg = (self.word_width // 8 - 1).bit_length()
        cmd_shape = wr_cmd_layout(aw)
        queues = []
        for c in range(n):
            q = SyncFIFOBuffered(width=cmd_shape.size, depth=self.queue_depth)
            m.submodules[f"queue{c}"] = q
            queues.append(q)

        # commands into their core's queue; a bad one is dropped with the error bit
        bad = (self.cmd.p.core >= n) | (self.cmd.p.length[:lg] != 0 if lg else 0)
        bad = bad | (self.cmd.p.length == 0)
        sel_ready = Signal()
        for c, q in enumerate(queues):
            m.d.comb += [q.w_data.eq(self.cmd.p.as_value()[:cmd_shape.size]),
                         q.w_en.eq(self.cmd.valid & ~bad & (self.cmd.p.core == c))]
            with m.If(self.cmd.p.core == c):
                m.d.comb += sel_ready.eq(q.w_rdy)
        m.d.comb += self.cmd.ready.eq(bad | sel_ready)
        with m.If(self.error_clear):
            m.d.sync += self.error.eq(0)
        with m.If(self.cmd.valid & bad):
            m.d.sync += self.error.eq(1)

        ready = Signal(n)
        for c, q in enumerate(queues):
            m.d.comb += ready[c].eq(q.r_rdy & self.tiles[c].valid)

        # round-robin: the first ready core after the last one granted. One core has no
        # choice to make: it is granted whenever it is ready, with no pointer nor grant register.
        if n == 1:
            found = ready[0]

            def granted(c):
                return nullcontext()
        else:
            last = Signal(range(n))
            pick, found = Signal(range(n), name="pick"), Signal(name="found")
            for k in reversed(range(n)):       # the lowest k wins
                c = Signal(range(n), name=f"rr{k}")
                m.d.comb += c.eq(Mux(last + 1 + k >= n, last + 1 + k - n, last + 1 + k))
                with m.If(ready.bit_select(c, 1)):
                    m.d.comb += [pick.eq(c), found.eq(1)]
            grant = Signal(range(n))

            def granted(c):
                return m.If(grant == c)

        left = Signal(aw)           # words of the granted tile still to pass
        head = Signal(cmd_shape)
        with m.FSM() as fsm:
            with m.State("PICK"):
                with m.If(found & ~self.flush):
                    if n > 1:
                        m.d.sync += [grant.eq(pick), last.eq(pick)]
                    m.next = "CMD"
            with m.State("CMD"):
                for c, q in enumerate(queues):
                    with granted(c):
                        m.d.comb += head.eq(q.r_data)
                m.d.comb += [self.wr_cmd.valid.eq(1), self.wr_cmd.p.eq(head)]
                with m.If(self.wr_cmd.ready):
                    for c, q in enumerate(queues):
                        with granted(c):
                            m.d.comb += q.r_en.eq(1)
                    m.d.sync += left.eq(head.length >> lg)
                    m.next = "DATA"
            with m.State("DATA"):
                for c, t in enumerate(self.tiles):
                    with granted(c):
                        m.d.comb += [self.st.valid.eq(t.valid | self.flush),
                                     self.st.payload.eq(Mux(t.valid, t.payload, 0)),
                                     t.ready.eq(self.st.ready)]
                with m.If(self.st.valid & self.st.ready):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.comb += self.tile_done.eq(1)
                        m.next = "PICK"

        quiet = self.quiet
        m.d.comb += quiet.eq(fsm.ongoing("PICK"))
        if n == 1:
            m.d.comb += [self.waiting[0].eq(ready[0] & quiet),
                         self.pending[0].eq(queues[0].r_rdy | ~quiet)]
        else:
            for c in range(n):
                m.d.comb += [self.waiting[c].eq(ready[c] & (quiet | (grant != c))),
                             self.pending[c].eq(queues[c].r_rdy | (~quiet & (grant == c)))]
        return m
