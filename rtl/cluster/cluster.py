"""A cluster of sparse cores behind the reconfigurable interconnect.

::

   cmd (beat, mask) ──► Fanout ──► core c .cmd                       (weights, per core)
   geom (mask) ───────► Fanout ──► FIFO ──► LoadToElements c .geom
   rd_cmd (mask) ──► route FIFO {mask, beats} ┐
        └──────────► dma_rd (to the engine)   ▼
   ld (engine) ─────────────────────────► Router ─► Fanout ─► LoadToElements c ─► core c
                                                    (multicast: several bits; unicast: one)
   wr_cmd (core) ──► StoreArbiter queues ─► dma_wr (to the engine)
   core c ─► OutputsToMaps c ─► StoreArbiter (round-robin, whole tiles) ─► st (to the engine)

The program configures the interconnect transfer by transfer: a ``LOAD``
names the cores its data goes to, a ``GEOM`` the cores whose pass it
describes, a ``CORE`` the cores its command beats go to, a ``STORE`` the core
whose tile it stores. A *group* is the set of cores a program addresses
together; any set can be one, and several groups can have layers in flight
at once. A group's input tile read once and sent to all its cores
(multicast) costs one read; ``MCAST_BYTES`` counts the bytes it saved.

The cluster's register bank (:data:`REGMAP` of :func:`cluster_regmap`) holds
each core's tile size (``POSITIONS_c``, for its store adapter), the dense
baseline switch, the error bits and the interconnect's counters.

See :class:`Cluster` for its parameters, ports and timing.
"""

from amaranth.hdl import Module, ResetInserter, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out, connect

from ..refuse import Params, refuse
from ..unused import declare_unused
from ..bus.axi import AxiLiteSignature
from ..bus.csr import AxiLiteCsr
from ..bus.dma import rd_cmd_layout, wr_cmd_layout
from ..bus.ld_adapter import LoadToElements, geom_layout, load_layout
from ..bus.regmap import Field, Register, RegisterMap
from ..bus.st_adapter import OutputsToMaps
from ..core import SparseCore
from ..core.descriptor import cmd_layout
from ..core import COUNTERS
from .fanout import Fanout
from .ports import cmd_out_layout, geom_out_layout, load_cmd_layout, store_cmd_layout
from .store_arbiter import StoreArbiter

__all__ = ["Cluster", "cluster_regmap", "CLUSTER_ID", "TAG_LOAD"]

#: The read tag whose data goes to the cores (the engine's ``TAG_LOAD``); other tags are
#: the engine's own (aux reads) and are not routed.
TAG_LOAD = 0


def cluster_regmap(cores, max_positions):
    """The cluster's registers for ``cores`` cores whose store adapters take tiles of at most
    ``max_positions`` positions (``POSITIONS_c`` holds 0..``max_positions``: its width is
    ``max_positions.bit_length()``, the store adapter's ``positions`` input's)."""
    regs = [
        Register("id", 0x000, "ro", doc='constant 0x434C5331 ("CLS1")'),
        Register("control", 0x004, "rw", 1, doc="switches", fields=[
            Field("keep_zero", 0, doc="send zero elements to the cores too (dense baseline)")]),
        Register("errors", 0x008, "ro", 3, doc="sticky error bits; the fault output is their OR",
                 fields=[Field("load", 0, doc="a load adapter refused a pass geometry"),
                         Field("store", 1, doc="a store adapter got a tile of a bad size"),
                         Field("route", 2, doc="a STORE named no core, or a bad length")]),
        Register("error_clear", 0x00C, "wo", 1, doc="write 1 to clear the errors of the cluster "
                 "and of its cores"),
        Register("ld_bytes", 0x010, "ro", 64, doc="bytes the load path brought to the cluster"),
        Register("mcast_bytes", 0x018, "ro", 64, doc="bytes delivered beyond the first copy: "
                 "the reads multicast saved"),
        Register("stored", 0x020, "ro", 32, doc="tiles passed to the store path"),
        Register("counter_clear", 0x024, "wo", 1, doc="write 1 to clear the counters above "
                 "and each core's load and store stall counters"),
    ]
    for c in range(cores):
        base = 0x040 + 0x10 * c
        regs += [
            Register(f"positions_{c}", base, "rw", max_positions.bit_length(),
                     doc=f"core {c}'s tile: out_h*out_w, at most {max_positions}"),
            Register(f"ld_blocked_{c}", base + 4, "ro", 32,
                     doc=f"cycles the load path waited for core {c}"),
            Register(f"st_waiting_{c}", base + 8, "ro", 32,
                     doc=f"cycles core {c}'s tile waited for the store path"),
        ]
    return RegisterMap("Cluster", regs, addr_width=9,
                       doc="The cluster's interconnect: tile sizes, switches, errors, counters.")


#: ``ID``: "CLS1".
CLUSTER_ID = 0x434C_5331


class Cluster(wiring.Component):
    """``cores`` sparse cores with their load and store adapters, a load fan-out with routes
    (multicast, unicast) and a round-robin store arbiter.

    Parameters
    ----------
    cores : int
        Sparse cores, 1..16.
    core : dict or None
        Keyword arguments of each :class:`~ganforge.rtl.core.SparseCore` (None: its
        defaults).
    words : int
        Elements per load/store word (the engine's lanes: bus width / data width); a power
        of two, a word of at most 1024 bits.
    addr_width : int
        Of the DMA commands, 32..64 (the engine's DMA's).
    max_positions : int
        The largest tile of a store adapter; at most the cores' ``out_depth``, a non-zero
        multiple of ``words``.
    queue_depth : int
        Entries of each core's geometry queue, of each core's store queue and of the route
        queue; at least 1 (any depth: the queues are FIFOs, no power of two needed; 1
        passes one entry every other cycle).

    Members
    -------
    csr : :py:`In(AxiLiteSignature(9, 32))`
        The cluster's registers (:func:`cluster_regmap`).
    cmd : :py:`In(stream.Signature(cmd_out_layout(cores, cmd_width)))`
        Core command beats and the cores they go to.
    geom : :py:`In(stream.Signature(geom_out_layout(cores, coord_bits)))`
        Pass geometries and the cores they go to.
    rd_cmd : :py:`In(stream.Signature(load_cmd_layout(addr_width, 2, cores)))`
        DMA reads and, for ``TAG_LOAD`` reads, the cores their data goes to.
    dma_rd : :py:`Out(stream.Signature(rd_cmd_layout(addr_width, 2)))`
        The reads, to the engine's DMA.
    ld : :py:`In(stream.Signature(load_layout(data_width, words)))`
        The engine's load path.
    wr_cmd : :py:`In(stream.Signature(store_cmd_layout(addr_width, cores)))`
        DMA writes, each for one core's next tile.
    dma_wr : :py:`Out(stream.Signature(wr_cmd_layout(addr_width)))`
        The writes, to the engine's DMA, one per tile in the order the arbiter grants.
    st : :py:`Out(stream.Signature(unsigned(words * data_width)))`
        The granted tiles' words, to the engine's store path.
    core_error : :py:`Out(cores)`
        Bit ``c``: core ``c``'s error register is not 0.
    fault : :py:`Out(1)`
        An error bit of the cluster is set.
    idle : :py:`Out(cores)`
        Bit ``c``: core ``c`` has finished its work: it is not busy, and every word it
        drained and every ``STORE`` naming it has passed to the engine's store path (the
        writes to memory may still be in flight). What ``WAIT`` waits for.
    counters : :py:`Out(data.ArrayLayout(64, ...))`
        Every core's counters (:data:`~ganforge.rtl.core.COUNTERS`, core after core), then
        ``ld_bytes``, ``mcast_bytes``, ``stored``; :attr:`counter_names` names them.
    flush : :py:`In(1)`
        Clearing after a stopped program: what the processor offers (``cmd``, ``geom``,
        ``rd_cmd``, ``wr_cmd``) and load words are taken and dropped, no new store is
        granted, and the store being served ends with zeros where its core has no words.
    quiet : :py:`Out(1)`
        No store is being served (with ``flush``, nothing more leaves the cluster).
    flush_reset : :py:`In(1)`
        Resets the datapath: the cores, the adapters, every queue and route, the store
        arbiter (not the registers nor the counters).

    Latency and throughput
    ----------------------
    A load word reaches its cores through the router and fan-out in the cycle it arrives
    (no storage) and leaves when all of them have taken it; each core's load adapter
    then sends one element a cycle. Stores: see
    :class:`~ganforge.rtl.cluster.store_arbiter.StoreArbiter`.

    Bad input
    ---------
    A core's own errors (``core_error``); a geometry a load adapter refuses, a tile of a
    bad size, or a STORE naming no core set the cluster's error bits (``fault``). A
    zero-mask route drops its data.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``cores`` outside 1..16, ``core`` not a
        dict (or None), ``addr_width`` outside 32..64, ``queue_depth`` below 1,
        ``words`` not a power of two or a word over 1024 bits, ``max_positions`` below 1,
        above the cores' ``out_depth`` or not a multiple of ``words``; and what a part
        refuses, with the part's message (:class:`~ganforge.rtl.core.SparseCore`, the
        adapters).
    """

    def __init__(self, *, cores=1, core=None, words=4, addr_width=32, max_positions=64,
                 queue_depth=4):
        p = Params(self, "Cluster")
        p.int("cores", cores, 1, 16)
        if core is not None and not isinstance(core, dict):
            p.fail(f"core must be a dict of SparseCore keyword arguments or None, got {core!r}")
        p.int("addr_width", addr_width, 32, 64, " (the engine's DMA's AXI4 addresses)")
        p.int("queue_depth", queue_depth, 1)
        p.int("max_positions", max_positions, 1)
        try:
            self._cores = [SparseCore(**(core or {})) for _ in range(cores)]
            c0 = self._cores[0]
            p.pow2("words", words, 1, 1024 // c0.dw,
                   " (a word of at most 1024 bits, the widest AXI data bus)")
            if max_positions > c0.out_depth:
                p.fail(f"max_positions must be at most the cores' out_depth ({c0.out_depth}), "
                       f"got {max_positions}")
            if max_positions % words:
                p.fail(f"max_positions must be a multiple of words={words}, got {max_positions}")
            self._ld = [LoadToElements(lanes=c0.lanes, words=words, data_width=c0.dw,
                                       coord_bits=c0.cb) for _ in range(cores)]
            self._st = [OutputsToMaps(lanes=c0.lanes, words=words, data_width=c0.dw,
                                      max_positions=max_positions) for _ in range(cores)]
        except ValueError as exc:
            refuse(self, str(exc))
        self.n, self.words, self.addr_width = cores, words, addr_width
        self.max_positions = max_positions
        self.queue_depth = queue_depth
        self.regmap = cluster_regmap(cores, max_positions)
        self.cmd_shape = cmd_layout(c0.lanes, c0.addr_bits, c0.lw, c0.cb, c0.out_depth)
        self.cmd_width = self.cmd_shape.size
        self.coord_bits, self.data_width = c0.cb, c0.dw
        self.counter_names = ([f"core{c}.{name}" for c in range(cores) for name in COUNTERS]
                              + ["ld_bytes", "mcast_bytes", "stored"])
        super().__init__({
            "csr": In(AxiLiteSignature(self.regmap.addr_width, 32)),
            "cmd": In(stream.Signature(cmd_out_layout(cores, self.cmd_width))),
            "geom": In(stream.Signature(geom_out_layout(cores, c0.cb))),
            "rd_cmd": In(stream.Signature(load_cmd_layout(addr_width, 2, cores))),
            "dma_rd": Out(stream.Signature(rd_cmd_layout(addr_width, 2))),
            "ld": In(stream.Signature(load_layout(c0.dw, words))),
            "wr_cmd": In(stream.Signature(store_cmd_layout(addr_width, cores))),
            "dma_wr": Out(stream.Signature(wr_cmd_layout(addr_width))),
            "st": Out(stream.Signature(unsigned(words * c0.dw))),
            "core_error": Out(cores),
            "fault": Out(1),
            "idle": Out(cores),
            "counters": Out(data.ArrayLayout(64, len(self.counter_names))),
            "flush": In(1),
            "quiet": Out(1),
            "flush_reset": In(1),
        })

    @property
    def core(self):
        """Core 0 (every core has the same parameters): the layouts the firmware packs."""
        return self._cores[0]

    def elaborate(self, platform):
        m = Module()
        n = self.n
        m.submodules.csr = csr = AxiLiteCsr(self.regmap)
        connect(m, wiring.flipped(self.csr), csr.bus)
        m.d.comb += csr.id.eq(CLUSTER_ID)
        clear = csr.error_clear_stb & csr.error_clear[0]

        # ---- command beats and geometries: fanned out by their masks ----
        def datapath(sub):
            """``sub``, reset by ``flush_reset``."""
            return ResetInserter(self.flush_reset)(sub)

        cmd_fan = Fanout(outputs=n, shape=unsigned(self.cmd_width))
        geom_fan = Fanout(outputs=n, shape=geom_layout(self.coord_bits))
        m.submodules.cmd_fan, m.submodules.geom_fan = datapath(cmd_fan), datapath(geom_fan)
        # (while flushing, what the processor still offers is taken and dropped)
        flush = self.flush
        m.d.comb += [cmd_fan.i.valid.eq(self.cmd.valid & ~flush),
                     self.cmd.ready.eq(cmd_fan.i.ready | flush), cmd_fan.i.p.eq(self.cmd.p)]
        m.d.comb += [geom_fan.i.valid.eq(self.geom.valid & ~flush),
                     self.geom.ready.eq(geom_fan.i.ready | flush),
                     geom_fan.i.p.mask.eq(self.geom.p.mask), geom_fan.i.p.data.cin.eq(self.geom.p.cin),
                     geom_fan.i.p.data.in_h.eq(self.geom.p.in_h),
                     geom_fan.i.p.data.in_w.eq(self.geom.p.in_w)]

        # ---- reads: to the engine, with a route for the data of TAG_LOAD reads ----
        word_bytes = self.words * self.data_width // 8
        lg = (word_bytes - 1).bit_length()
        route_layout = data.StructLayout({"mask": unsigned(n), "beats": unsigned(self.addr_width)})
        routes = SyncFIFOBuffered(width=route_layout.size, depth=self.queue_depth)
        m.submodules.routes = datapath(routes)
        routed = self.rd_cmd.p.tag == TAG_LOAD
        m.d.comb += [
            self.dma_rd.p.addr.eq(self.rd_cmd.p.addr), self.dma_rd.p.length.eq(self.rd_cmd.p.length),
            self.dma_rd.p.tag.eq(self.rd_cmd.p.tag),
            self.dma_rd.valid.eq(self.rd_cmd.valid & (~routed | routes.w_rdy) & ~flush),
            self.rd_cmd.ready.eq((self.dma_rd.ready & (~routed | routes.w_rdy)) | flush),
            routes.w_en.eq(self.rd_cmd.valid & self.rd_cmd.ready & routed & ~flush),
        ]
        w_route = data.View(route_layout, routes.w_data)
        m.d.comb += [w_route.mask.eq(self.rd_cmd.p.mask),
                     w_route.beats.eq(self.rd_cmd.p.length >> lg)]

        # the router: the head route's mask on its beats
        ld_fan = Fanout(outputs=n, shape=unsigned(self.words * self.data_width))
        m.submodules.ld_fan = datapath(ld_fan)
        head = data.View(route_layout, routes.r_data)
        sent = Signal(self.addr_width)
        # (while flushing, load words are dropped)
        m.d.comb += [ld_fan.i.valid.eq(self.ld.valid & routes.r_rdy & ~self.flush),
                     self.ld.ready.eq((ld_fan.i.ready & routes.r_rdy) | self.flush),
                     ld_fan.i.p.mask.eq(head.mask), ld_fan.i.p.data.eq(self.ld.p.data)]
        # the load adapters read values only (see LoadToElements): the ld mask is not routed
        declare_unused(m, "ld_mask", self.ld.p.mask)
        ld_fire = self.ld.valid & self.ld.ready & ~self.flush
        with m.If(ld_fire):
            m.d.sync += sent.eq(sent + 1)
            with m.If(sent + 1 >= head.beats):
                m.d.sync += sent.eq(0)
                m.d.comb += routes.r_en.eq(1)
        with m.If(self.flush_reset):
            m.d.sync += sent.eq(0)

        # ---- stores ----
        arb = StoreArbiter(cores=n, addr_width=self.addr_width,
                           word_width=self.words * self.data_width, queue_depth=self.queue_depth)
        m.submodules.arbiter = datapath(arb)
        m.d.comb += [arb.flush.eq(self.flush), self.quiet.eq(arb.quiet)]
        m.d.comb += [arb.cmd.valid.eq(self.wr_cmd.valid & ~flush),
                     self.wr_cmd.ready.eq(arb.cmd.ready | flush), arb.cmd.p.eq(self.wr_cmd.p)]
        connect(m, arb.wr_cmd, wiring.flipped(self.dma_wr))
        connect(m, arb.st, wiring.flipped(self.st))
        m.d.comb += arb.error_clear.eq(clear)

        # ---- the cores and their adapters ----
        ld_err, st_err = Signal(n), Signal(n)
        for c in range(n):
            core, lda, sta = self._cores[c], self._ld[c], self._st[c]
            m.submodules[f"core{c}"] = datapath(core)
            m.submodules[f"ld{c}"] = datapath(lda)
            m.submodules[f"st{c}"] = datapath(sta)
            q = SyncFIFOBuffered(width=len(geom_fan.o[c].payload.as_value()), depth=self.queue_depth)
            m.submodules[f"geom_q{c}"] = datapath(q)
            o = cmd_fan.o[c]
            m.d.comb += [core.cmd.valid.eq(o.valid), o.ready.eq(core.cmd.ready),
                         core.cmd.payload.eq(o.payload)]
            go = geom_fan.o[c]
            m.d.comb += [q.w_stream.valid.eq(go.valid), go.ready.eq(q.w_stream.ready),
                         q.w_stream.payload.eq(go.payload),
                         lda.geom.valid.eq(q.r_stream.valid), q.r_stream.ready.eq(lda.geom.ready),
                         lda.geom.payload.eq(q.r_stream.payload)]
            lo = ld_fan.o[c]
            m.d.comb += [lda.i.valid.eq(lo.valid), lo.ready.eq(lda.i.ready),
                         lda.i.p.data.eq(lo.payload), lda.i.p.mask.eq(-1)]
            connect(m, lda.o, core.x_in)
            connect(m, core.o, sta.i)
            connect(m, sta.o, arb.tiles[c])
            m.d.comb += [
                lda.keep_zero.eq(csr.control.keep_zero),
                sta.positions.eq(getattr(csr, f"positions_{c}")),
                core.error_clear.eq(clear), lda.error_clear.eq(clear), sta.error_clear.eq(clear),
                self.core_error[c].eq(core.error != 0),
                self.idle[c].eq(~core.busy & sta.empty & ~arb.pending[c]),
                ld_err[c].eq(lda.error), st_err[c].eq(sta.error),
            ]

        m.d.comb += [csr.errors.load.eq(ld_err.any()), csr.errors.store.eq(st_err.any()),
                     csr.errors.route.eq(arb.error),
                     self.fault.eq(ld_err.any() | st_err.any() | arb.error)]

        # ---- counters ----
        ld_bytes, mcast_bytes = Signal(64), Signal(64)
        stored = Signal(32)
        with m.If(ld_fire):
            m.d.sync += ld_bytes.eq(ld_bytes + word_bytes)
            if n > 1:                   # one core: no multicast, MCAST_BYTES stays 0
                copies = Signal(range(n + 1))
                m.d.comb += copies.eq(sum(head.mask[c] for c in range(n)))
                with m.If(copies > 1):
                    m.d.sync += mcast_bytes.eq(mcast_bytes + (copies - 1) * word_bytes)
        with m.If(arb.tile_done):
            m.d.sync += stored.eq(stored + 1)
        zero = csr.counter_clear_stb & csr.counter_clear[0]
        for c in range(n):
            blocked, waiting = Signal(32, name=f"ld_blocked_{c}"), Signal(32, name=f"st_waiting_{c}")
            with m.If(ld_fan.blocked[c]):
                m.d.sync += blocked.eq(blocked + 1)
            with m.If(arb.waiting[c]):
                m.d.sync += waiting.eq(waiting + 1)
            with m.If(zero):
                m.d.sync += [blocked.eq(0), waiting.eq(0)]
            m.d.comb += [getattr(csr, f"ld_blocked_{c}").eq(blocked),
                         getattr(csr, f"st_waiting_{c}").eq(waiting)]
        with m.If(zero):
            m.d.sync += [ld_bytes.eq(0), mcast_bytes.eq(0), stored.eq(0)]
        m.d.comb += [csr.ld_bytes.eq(ld_bytes), csr.mcast_bytes.eq(mcast_bytes),
                     csr.stored.eq(stored)]
        values = [getattr(core, name) for core in self._cores for name in COUNTERS]
        values += [ld_bytes, mcast_bytes, stored]
        for k, v in enumerate(values):
            m.d.comb += self.counters[k].eq(v)
        return m
