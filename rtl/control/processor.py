"""The command processor: fetches a program from external memory and runs it.

::

             AXI4-Lite (REGMAP: BASE, window, BUDGET, CTRL.go/abort, STATUS, ERROR_PC)
  host ───────────────────────────────┐
                                      ▼
              ┌──────────────────────────────────────────────┐
  AXI4 ◄────► │ Dma ─ rd_data ─► fetch ─► decode ─► execute  │ ── cmd ──► cores (mask)
  (its own    │     ◄─ wr_data ── snapshot of ``counters``   │ ── rd_cmd, wr_cmd ──► engine DMA
   memory     └──────────────────────────────────────────────┘ ── geom ──► load adapters
   port)                 ▲ idle, core_error, fault            ── regs (AXI4-Lite) ──► register banks

The host writes ``BASE`` (the program's first instruction), the address
window every access must stay in, and ``CTRL.go``; it then waits for the
interrupt and reads ``STATUS``. The instructions (:mod:`.isa`) run one at a
time: fetch (16 bytes through the processor's own
:class:`~ganforge.rtl.bus.dma.Dma`), check, execute, next.

A program may have several *threads* (``FORK``), one per group of cores: the
processor takes their instructions in round-robin order, one at a time, and a
thread that waits (``WAIT`` for idle cores, ``WAITEV`` for an event counter
another thread raises with ``SIGNAL``) lets the others run.

See :class:`CommandProcessor` for its parameters, ports, timing and errors.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out, connect

from ..bus.axi import AxiLiteSignature, AxiSignature, RESP_OKAY
from ..bus.csr import AxiLiteCsr
from ..bus.dma import Dma
from ..cluster.ports import (cmd_out_layout, geom_out_layout, load_cmd_layout,
                             store_cmd_layout)
from ..bus.regmap import Field, Register, RegisterMap
from ..refuse import Params
from .isa import INSTR_BYTES, Cond, Error, Opcode, instr_layout

__all__ = ["CommandProcessor", "REGMAP", "PROCESSOR_ID"]

#: ``ID``: "CMD1".
PROCESSOR_ID = 0x434D_4431

REGMAP = RegisterMap("CommandProcessor", [
    Register("id", 0x00, "ro", doc='constant 0x434D4431 ("CMD1")'),
    Register("ctrl", 0x04, "wo", 3, doc="commands", fields=[
        Field("go", 0, doc="run the program at BASE (ignored while busy)"),
        Field("abort", 1, doc="stop the running program (ignored while idle)"),
        Field("irq_clear", 2, doc="clear the interrupt")]),
    Register("status", 0x08, "ro", 8, doc="state of the processor", fields=[
        Field("busy", 0, doc="a program is running (or stopping)"),
        Field("done", 1, doc="the last program reached END"),
        Field("stuck", 2, doc="a stop could not finish the transfers in flight within BUDGET"),
        Field("irq", 3, doc="the interrupt"),
        Field("error", 4, 4, doc="error code of the last program (0: none)")]),
    Register("base", 0x10, "rw", 64, doc="address of the program's first instruction"),
    Register("win_lo", 0x18, "rw", 64, doc="lowest byte address a program may touch"),
    Register("win_hi", 0x20, "rw", 64, reset=(1 << 64) - 1,
             doc="end of the window: accesses stay below it"),
    Register("budget", 0x28, "rw", 32, reset=1 << 20,
             doc="cycles an instruction may go without progress before TIMEOUT"),
    Register("pc", 0x30, "ro", 64, doc="address of the instruction being run"),
    Register("error_pc", 0x38, "ro", 64, doc="address of the instruction that failed"),
    Register("retired", 0x40, "ro", 32, doc="instructions completed by the last program"),
    Register("info", 0x44, "ro", doc="build parameters", fields=[
        Field("cores", 0, 8, doc="cores on the cmd port"),
        Field("counters", 8, 8, doc="64-bit counters a SNAPSHOT writes"),
        Field("beat_bytes", 16, 16, doc="bytes of a core command beat in memory")]),
    Register("rd_bytes", 0x48, "ro", 64, doc="bytes the processor read (program, commands)"),
    Register("threads", 0x50, "ro", 24, doc="the program's threads", fields=[
        Field("alive", 0, 8, doc="bit t: thread t runs (started and not ended)"),
        Field("waiting", 8, 8, doc="bit t: thread t waits (WAIT, WAITEV)"),
        Field("current", 16, 3, doc="the thread whose instruction runs (or ran last)")]),
    Register("info2", 0x54, "ro", 9, doc="build parameters", fields=[
        Field("threads", 0, 4, doc="threads a program may run"),
        Field("events", 4, 5, doc="event counters")]),
], addr_width=8, doc="The command processor's registers.")


class CommandProcessor(wiring.Component):
    """Fetches instructions (:mod:`~ganforge.rtl.control.isa`) from external memory and
    runs them.

    Parameters
    ----------
    addr_width : int
        AXI address width, 32..64 (its memory port's, and the DMA commands').
    data_width : int
        AXI data width: 32, 64 or 128.
    max_burst : int
        Longest burst of its memory port, 1..256.
    cores : int
        Cores on the ``cmd`` and ``geom`` ports (bits of an instruction's ``mask``), 1..16.
    cmd_width : int
        Bits of a core command beat. In memory a beat takes ``beat_bytes``: the width
        rounded up to whole bus words.
    coord_bits : int
        Bits of the coordinates on ``geom``, 1..16.
    tag_width : int
        Bits of a DMA read command's tag, 1..4.
    counters : int
        64-bit counters a ``SNAPSHOT`` writes, 1..255.
    reg_addr_width : int
        Byte address width of the register port, 4..16.
    threads : int
        Threads a program may run at once, 1..8 (thread 0 starts at ``BASE``, ``FORK``
        starts the others).
    events : int
        Event counters (32 bits each, cleared by ``GO``) of ``SIGNAL`` and ``WAITEV``, 1..16.

    Members
    -------
    csr : :py:`In(AxiLiteSignature(8, 32))`
        Its registers (:data:`REGMAP`).
    axi : :py:`Out(AxiSignature(addr_width, data_width))`
        Its memory port: instruction fetches, ``CORE`` beats, ``SNAPSHOT`` writes.
    cmd : :py:`Out(stream.Signature(cmd_out_layout(cores, cmd_width)))`
        Core command beats of ``CORE``, with the cores they go to.
    rd_cmd : :py:`Out(stream.Signature(load_cmd_layout(addr_width, tag_width, cores)))`
        ``LOAD``: a read for the engine's DMA and the cores its data goes to.
    wr_cmd : :py:`Out(stream.Signature(store_cmd_layout(addr_width, cores)))`
        ``STORE``: a write for the engine's DMA and the core whose tile it stores.
    geom : :py:`Out(stream.Signature(geom_out_layout(cores, coord_bits)))`
        ``GEOM``: pass geometries, with the cores they go to.
    regs : :py:`Out(AxiLiteSignature(reg_addr_width, 32))`
        The register port (``REG`` writes, ``POLL`` reads), one access at a time.
    idle : :py:`In(32)`
        Conditions ``WAIT`` waits for (bit i: idle input i).
    core_error : :py:`In(cores)`
        A core's error is set: the program stops with ``CORE``.
    fault : :py:`In(1)`
        The engine or an adapter has an error: the program stops with ``FAULT``.
    counters : :py:`In(data.ArrayLayout(64, counters))`
        What ``SNAPSHOT`` writes (latched when the instruction starts).
    busy : :py:`Out(1)`
        A program is running or stopping.
    irq : :py:`Out(1)`
        Set when a program ends (END, an error or an abort); cleared by ``CTRL.irq_clear``
        or ``CTRL.go``.
    flush : :py:`Out(1)`
        One-cycle pulse when a program stops on an error or an abort, after the transfers
        in flight are finished: the top level clears what the program left half done.
    stopping : :py:`Out(1)`
        A stopped program's transfers in flight are being finished (before ``flush``): the
        top level may take and drop what the processor still offers, so that this ends.
    flushing : :py:`In(1)`
        The top level is still clearing (from the ``flush`` pulse on): the processor raises
        its interrupt, and takes the next ``GO``, once it drops (within ``BUDGET`` cycles, or
        it stops anyway with ``STATUS.stuck``). Tie to 0 when nothing needs clearing.

    Latency and throughput
    ----------------------
    One instruction at a time. After each, the next thread in round-robin order that can run
    takes its turn (a thread that waits runs again once its condition holds); switching
    threads costs nothing. An instruction costs its fetch (a 16-byte read: one AXI
    round trip) and a decode cycle, then its work: ``CORE`` streams one core beat per
    ``beat_bytes / (data_width/8)`` bus beats. Its reads go into a buffer of
    ``max(2·max_burst, 2·beat words, 8)`` bus words, half a buffer at a time and only
    when that much room is free, so the processor always takes its read data: a core
    that stops taking beats never holds up the shared memory port;
    ``LOAD``/``STORE``/``GEOM`` one handshake; ``REG`` one AXI4-Lite write; ``POLL`` one
    read per try; ``SNAPSHOT`` one write burst and its response.

    Bad input
    ---------
    A program stops at its first error (:class:`~ganforge.rtl.control.isa.Error`):
    ``STATUS.error`` holds the code, ``ERROR_PC`` the instruction's address, and the
    interrupt rises. Read data with a tag the processor never issued (all its reads have tag
    0) stops it with ``BUS``, like an error response. Before it stops, the processor
    finishes what is in flight: a beat it offers on an output stays offered until taken, a
    register access until answered, its own reads are received and dropped, and a snapshot's
    remaining words are written as zero. If that takes more than ``BUDGET`` cycles without
    progress, it stops anyway and sets ``STATUS.stuck``. Nothing it issues is ever
    withdrawn.

    Raises
    ------
    ValueError
        At construction, naming the parameter that is out of range: ``addr_width``
        outside 32..64, ``data_width`` not 32, 64 or 128, ``max_burst`` outside 1..256,
        ``cores`` outside 1..16, ``cmd_width`` outside 1..4096, ``coord_bits`` outside
        1..16, ``tag_width`` outside 1..4, ``counters`` outside 1..255,
        ``reg_addr_width`` outside 4..16, ``threads`` outside 1..8, ``events`` outside 1..16.
    """

    def __init__(self, *, addr_width=32, data_width=64, max_burst=16, cores=1, cmd_width=64,
                 coord_bits=8, tag_width=2, counters=1, reg_addr_width=12, threads=1, events=1):
        p = Params(self, "CommandProcessor")
        p.int("addr_width", addr_width, 32, 64)
        if data_width not in (32, 64, 128) or isinstance(data_width, bool):
            p.fail(f"data_width must be 32, 64 or 128 (its DMA's axi_data_width), "
                   f"got {data_width!r}")
        p.int("max_burst", max_burst, 1, 256, " (the AXI4 limit)")
        p.int("cores", cores, 1, 16)
        p.int("cmd_width", cmd_width, 1, 4096)
        p.int("coord_bits", coord_bits, 1, 16, " (the 16-bit fields of GEOM)")
        p.int("tag_width", tag_width, 1, 4, " (the 4-bit tag of LOAD)")
        p.int("counters", counters, 1, 255, " (the 8-bit INFO.counters)")
        p.int("reg_addr_width", reg_addr_width, 4, 16)
        p.int("threads", threads, 1, 8, " (the 8 bits of THREADS.alive)")
        p.int("events", events, 1, 16)
        try:
            self._dma = Dma(addr_width=addr_width, data_width=data_width, max_burst=max_burst,
                            max_outstanding_reads=2, max_outstanding_writes=1, tag_width=1)
        except ValueError as exc:       # the rules above are the DMA's: not reached
            p.fail(f"its DMA refuses: {exc}")
        self._csr = AxiLiteCsr(REGMAP)
        self.addr_width, self.data_width, self.cores = addr_width, data_width, cores
        self.cmd_width, self.coord_bits, self.tag_width = cmd_width, coord_bits, tag_width
        self.n_counters, self.reg_addr_width = counters, reg_addr_width
        self.threads, self.events = threads, events
        self.bus_bytes = data_width // 8
        #: bus beats per core command beat, and the bytes it takes in memory
        self.beat_words = -(-cmd_width // data_width)
        self.beat_bytes = self.beat_words * self.bus_bytes
        #: CORE's read buffer (bus words), and the reads of at most half of it
        self.buf_words = max(2 * max_burst, 2 * self.beat_words, 8)
        self.chunk_words = self.buf_words // 2
        self.chunk_bytes = self.chunk_words * self.bus_bytes
        #: bus beats of a snapshot, and its bytes
        self.snap_words = -(-64 * counters // data_width)
        self.snap_bytes = self.snap_words * self.bus_bytes
        super().__init__({
            "csr": In(AxiLiteSignature(REGMAP.addr_width, 32)),
            "axi": Out(AxiSignature(addr_width, data_width)),
            "cmd": Out(stream.Signature(cmd_out_layout(cores, cmd_width))),
            "rd_cmd": Out(stream.Signature(load_cmd_layout(addr_width, tag_width, cores))),
            "wr_cmd": Out(stream.Signature(store_cmd_layout(addr_width, cores))),
            "geom": Out(stream.Signature(geom_out_layout(cores, coord_bits))),
            "regs": Out(AxiLiteSignature(reg_addr_width, 32)),
            "idle": In(32),
            "core_error": In(cores),
            "fault": In(1),
            "counters": In(data.ArrayLayout(64, counters)),
            "busy": Out(1),
            "irq": Out(1),
            "flush": Out(1),
            "stopping": Out(1),
            "flushing": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = dma = self._dma
        m.submodules.csr = csr = self._csr
        connect(m, wiring.flipped(self.axi), dma.axi)
        connect(m, wiring.flipped(self.csr), csr.bus)
        aw, dw = self.addr_width, self.data_width

        go = csr.ctrl_stb & csr.ctrl.go
        abort = csr.ctrl_stb & csr.ctrl.abort
        ins = Signal(instr_layout())
        raw = ins.as_value()
        op = ins.nop.op
        pc, error_pc = Signal(64), Signal(64)
        error = Signal(4)
        done, stuck, irq = Signal(), Signal(), Signal()
        retired = Signal(32)
        m.d.comb += [
            dma.limit.eq((1 << aw) - 1),
            csr.id.eq(PROCESSOR_ID), csr.pc.eq(pc), csr.error_pc.eq(error_pc),
            csr.retired.eq(retired), csr.rd_bytes.eq(dma.rd_bytes),
            csr.info.cores.eq(self.cores), csr.info.counters.eq(self.n_counters),
            csr.info.beat_bytes.eq(self.beat_bytes),
            csr.status.busy.eq(self.busy), csr.status.done.eq(done),
            csr.status.stuck.eq(stuck), csr.status.irq.eq(irq), csr.status.error.eq(error),
            self.irq.eq(irq),
        ]
        m.d.sync += self.flush.eq(0)
        with m.If(csr.ctrl_stb & csr.ctrl.irq_clear):
            m.d.sync += irq.eq(0)

        # ---- threads: ``pc`` is the current thread's; the others' wait in ``pcs`` ----
        T, E = self.threads, self.events
        tb = max(1, (T - 1).bit_length())       # a thread's number (one bit for one thread)
        alive, waiting = Signal(T), Signal(T)
        cur = Signal(tb)
        pcs = Array(Signal(64, name=f"pc_t{t}") for t in range(T))
        on_event = Signal(T)                    # what thread t waits for: an event counter
        w_mask = Array(Signal(32, name=f"wait_mask_t{t}") for t in range(T))   # or idle inputs
        w_event = Array(Signal(max(1, (E - 1).bit_length()), name=f"wait_event_t{t}")
                        for t in range(T))
        w_count = Array(Signal(32, name=f"wait_count_t{t}") for t in range(T))
        counts = Array(Signal(32, name=f"event{e}") for e in range(E))
        ready = Signal(T)                       # alive and not waiting, or its wait is over
        for t in range(T):
            over = Mux(on_event[t], counts[w_event[t]] >= w_count[t],
                       (self.idle & w_mask[t]) == w_mask[t])
            m.d.comb += ready[t].eq(alive[t] & (~waiting[t] | over))
        # the next thread: the first ready one after the current, in round-robin order (the
        # current one last)
        nxt, found = Signal(tb), Signal()
        for k in reversed(range(T)):            # the lowest k wins
            c = Signal(tb, name=f"rr{k}")
            m.d.comb += c.eq(Mux(cur + 1 + k >= T, cur + 1 + k - T, cur + 1 + k))
            with m.If(ready.bit_select(c, 1)):
                m.d.comb += [nxt.eq(c), found.eq(1)]
        m.d.comb += [csr.threads.alive.eq(alive), csr.threads.waiting.eq(waiting),
                     csr.threads.current.eq(cur), csr.info2.threads.eq(T),
                     csr.info2.events.eq(E)]

        # ---- the window check of one access [chk_addr, chk_addr + chk_len) ----
        chk_addr, chk_len = Signal(64), Signal(64)
        chk_end = Signal(66)
        in_window = Signal()
        m.d.comb += [
            chk_end.eq(chk_addr + chk_len),
            in_window.eq((chk_addr >= csr.win_lo) & (chk_end <= csr.win_hi)
                         & (chk_end <= (1 << aw))),
        ]
        lg = (self.bus_bytes - 1).bit_length()
        bus_aligned = chk_addr[:lg] == 0

        # ---- watchdog: cycles without progress ----
        timer = Signal(32)
        progress = Signal()
        expired = Signal()
        m.d.comb += expired.eq(timer >= csr.budget)
        m.d.sync += timer.eq(Mux(progress, 0, timer + 1))

        # ---- outputs: registered valid, held until taken (also while stopping) ----
        o_rd, o_wr, o_geom = Signal(), Signal(), Signal()
        m.d.comb += [
            self.rd_cmd.valid.eq(o_rd), self.rd_cmd.p.addr.eq(ins.load.addr),
            self.rd_cmd.p.length.eq(ins.load.length), self.rd_cmd.p.tag.eq(ins.load.tag),
            self.rd_cmd.p.mask.eq(ins.load.mask), self.wr_cmd.p.core.eq(ins.store.core),
            self.wr_cmd.valid.eq(o_wr), self.wr_cmd.p.addr.eq(ins.store.addr),
            self.wr_cmd.p.length.eq(ins.store.length),
            self.geom.valid.eq(o_geom), self.geom.p.mask.eq(ins.geom.mask),
            self.geom.p.cin.eq(ins.geom.cin), self.geom.p.in_h.eq(ins.geom.in_h),
            self.geom.p.in_w.eq(ins.geom.in_w),
        ]
        for valid, s in ((o_rd, self.rd_cmd), (o_wr, self.wr_cmd), (o_geom, self.geom)):
            with m.If(s.valid & s.ready):
                m.d.sync += valid.eq(0)

        # the core beat gearbox: a shift register of beat_words bus words; a full one is a
        # beat, offered until taken
        gear = Signal(self.beat_words * dw)
        gear_n = Signal(range(self.beat_words + 1))
        gear_full = Signal()
        cmd_mask = Signal(self.cores)
        cmd_left = Signal(24)
        m.d.comb += [gear_full.eq(gear_n == self.beat_words), self.cmd.valid.eq(gear_full),
                     self.cmd.p.beat.eq(gear[:self.cmd_width]), self.cmd.p.mask.eq(cmd_mask)]
        cmd_fire = self.cmd.valid & self.cmd.ready
        with m.If(cmd_fire):
            m.d.sync += [gear_n.eq(0), cmd_left.eq(cmd_left - 1)]

        # CORE's read buffer: ``reserved`` words are in it or on their way; a read of a
        # ``chunk`` is issued only when all of it fits
        m.submodules.buf = buf = SyncFIFOBuffered(width=dw, depth=self.buf_words)
        core_addr, core_bytes = Signal(64), Signal(64)
        chunk = Signal(range(self.chunk_bytes + 1))
        inflight = Signal(range(self.buf_words + 1))
        reserved = Signal(range(2 * self.buf_words + 1))
        lgb = (self.bus_bytes - 1).bit_length()
        m.d.comb += [reserved.eq(buf.level + inflight), buf.w_data.eq(dma.rd_data.p.data),
                     chunk.eq(Mux(core_bytes < self.chunk_bytes, core_bytes, self.chunk_bytes))]

        # the register port: one access, each channel's valid held until its handshake
        regs = self.regs
        r_aw, r_w, r_b, r_ar, r_r = Signal(), Signal(), Signal(), Signal(), Signal()
        r_resp, r_data = Signal(2), Signal(32)
        r_got = Signal()      # a response (B or R) arrived; r_resp/r_data hold it
        m.d.comb += [
            regs.awvalid.eq(r_aw), regs.awaddr.eq(ins.reg.reg), regs.wvalid.eq(r_w),
            regs.wdata.eq(ins.reg.value), regs.wstrb.eq(0b1111), regs.bready.eq(r_b),
            regs.arvalid.eq(r_ar), regs.araddr.eq(ins.poll.reg), regs.rready.eq(r_r),
        ]
        with m.If(regs.awvalid & regs.awready):
            m.d.sync += r_aw.eq(0)
        with m.If(regs.wvalid & regs.wready):
            m.d.sync += r_w.eq(0)
        with m.If(regs.bvalid & regs.bready):
            m.d.sync += [r_b.eq(0), r_got.eq(1), r_resp.eq(regs.bresp)]
        with m.If(regs.arvalid & regs.arready):
            m.d.sync += [r_ar.eq(0), r_r.eq(1)]
        with m.If(regs.rvalid & regs.rready):
            m.d.sync += [r_r.eq(0), r_got.eq(1), r_resp.eq(regs.rresp), r_data.eq(regs.rdata)]
        regs_pending = r_aw | r_w | r_b | r_ar | r_r

        # the snapshot: the counters latched at decode, shifted out a bus word at a time
        snap = Signal(self.snap_words * dw)
        snap_n = Signal(range(self.snap_words + 1))
        m.d.comb += dma.wr_data.payload.eq(snap[:dw])
        with m.If(dma.wr_data.valid & dma.wr_data.ready):
            m.d.sync += [snap.eq(snap >> dw), snap_n.eq(snap_n + 1)]

        m.d.comb += progress.eq(
            (dma.rd_data.valid & dma.rd_data.ready) | (dma.rd_cmd.valid & dma.rd_cmd.ready)
            | (dma.wr_data.valid & dma.wr_data.ready) | (dma.wr_cmd.valid & dma.wr_cmd.ready)
            | cmd_fire | (self.rd_cmd.valid & self.rd_cmd.ready)
            | (self.wr_cmd.valid & self.wr_cmd.ready) | (self.geom.valid & self.geom.ready)
            | (regs.bvalid & regs.bready))

        # ---- errors: the state's own (stop) win over those any running state watches ----
        own_fail, own_code = Signal(), Signal(4)
        w_fail, w_code = Signal(), Signal(4)
        with m.If(abort):
            m.d.comb += [w_fail.eq(1), w_code.eq(Error.ABORTED)]
        with m.Elif(self.core_error.any()):
            m.d.comb += [w_fail.eq(1), w_code.eq(Error.CORE)]
        with m.Elif(self.fault):
            m.d.comb += [w_fail.eq(1), w_code.eq(Error.FAULT)]
        # every read the processor issues has tag 0 (its DMA's tag is the narrowest, 1 bit):
        # a beat with another tag is not its data
        bad_tag = dma.rd_data.valid & (dma.rd_data.p.tag != 0)
        with m.Elif(dma.errors.any() | bad_tag):
            m.d.comb += [w_fail.eq(1), w_code.eq(Error.BUS)]
        with m.Elif(expired):
            m.d.comb += [w_fail.eq(1), w_code.eq(Error.TIMEOUT)]

        def stop(code):
            m.d.comb += [own_fail.eq(1), own_code.eq(code)]

        def running():
            """Ends every running state: the first error stops the program (this is the
            state's last assignment to the next state, so it wins)."""
            with m.If(own_fail | w_fail):
                m.d.sync += [error.eq(Mux(own_fail, own_code, w_code)), error_pc.eq(pc),
                             timer.eq(0)]
                m.next = "DRAIN"

        def switch(retiring=0):
            """The next ready thread (``found``) takes its turn: its instruction is fetched
            next, or, for a thread whose wait is over, the one after its wait (the wait
            retires; ``retiring``: instructions retired this cycle already)."""
            m.d.sync += [cur.eq(nxt), pc.eq(pcs[nxt])]
            with m.If(waiting.bit_select(nxt, 1)):
                m.d.sync += [pc.eq(pcs[nxt] + INSTR_BYTES), retired.eq(retired + retiring + 1),
                             waiting.eq(waiting & ~(1 << nxt))]
            m.next = "FETCH"

        def retire():
            m.d.sync += [pc.eq(pc + INSTR_BYTES), retired.eq(retired + 1)]
            m.next = "FETCH"
            if T > 1:
                # the current thread is ready: ``found`` holds, and the next may be another
                m.d.sync += pcs[cur].eq(pc + INSTR_BYTES)
                with m.If(nxt != cur):
                    switch(retiring=1)

        def wait():
            """The current thread waits (its condition is set): the others run meanwhile."""
            m.d.sync += [waiting.eq(waiting | (1 << cur)), pcs[cur].eq(pc)]
            m.next = "SCHED"

        def fits(value, width):
            """``value``'s bits from ``width`` up are all 0."""
            return Const(1) if width >= len(value) else value[width:] == 0

        fetch_words = INSTR_BYTES // self.bus_bytes
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(go):
                    m.d.comb += dma.clear_errors.eq(-1)
                    m.d.sync += [pc.eq(csr.base), error.eq(0), done.eq(0), stuck.eq(0),
                                 irq.eq(0), retired.eq(0), timer.eq(0), cur.eq(0),
                                 waiting.eq(0), *[c.eq(0) for c in counts]]
                    with m.If(csr.base[:4] != 0):
                        m.d.sync += [error.eq(Error.ALIGN), error_pc.eq(csr.base), irq.eq(1)]
                    with m.Else():
                        m.d.sync += alive.eq(1)
                        m.next = "FETCH"

            with m.State("FETCH"):
                m.d.comb += [chk_addr.eq(pc), chk_len.eq(INSTR_BYTES),
                             dma.rd_cmd.valid.eq(in_window), dma.rd_cmd.p.addr.eq(pc),
                             dma.rd_cmd.p.length.eq(INSTR_BYTES)]
                with m.If(~in_window):
                    stop(Error.WINDOW)
                with m.Elif(dma.rd_cmd.ready):
                    m.next = "FETCH_DATA"
                running()

            with m.State("FETCH_DATA"):
                m.d.comb += dma.rd_data.ready.eq(1)
                with m.If(dma.rd_data.valid):
                    if fetch_words == 1:
                        m.d.sync += raw.eq(dma.rd_data.p.data)
                    else:
                        m.d.sync += raw.eq(Cat(raw[dw:], dma.rd_data.p.data))
                    with m.If(dma.rd_data.p.last):
                        m.next = "DECODE"
                running()

            with m.State("DECODE"):
                m.d.sync += timer.eq(0)
                self._decode(m, ins, op, chk_addr, chk_len, in_window, bus_aligned, stop, fits,
                             retire, dict(o_rd=o_rd, o_wr=o_wr, o_geom=o_geom, cmd_mask=cmd_mask,
                                          cmd_left=cmd_left, core_addr=core_addr,
                                          core_bytes=core_bytes, r_aw=r_aw, r_w=r_w, r_b=r_b,
                                          r_ar=r_ar, snap=snap, snap_n=snap_n, done=done,
                                          irq=irq, alive=alive, cur=cur, pcs=pcs,
                                          on_event=on_event, w_mask=w_mask, w_event=w_event,
                                          w_count=w_count, counts=counts, wait=wait))
                running()

            with m.State("CORE"):
                # reads of at most a chunk, each issued only when the buffer has room for it
                # all: read data is always taken, so the memory port is never held up
                m.d.comb += [dma.rd_cmd.valid.eq((core_bytes != 0)
                                                 & (reserved + self.chunk_words <= self.buf_words)),
                             dma.rd_cmd.p.addr.eq(core_addr), dma.rd_cmd.p.length.eq(chunk),
                             dma.rd_data.ready.eq(buf.w_rdy), buf.w_en.eq(dma.rd_data.valid)]
                with m.If(dma.rd_cmd.valid & dma.rd_cmd.ready):
                    m.d.sync += [core_addr.eq(core_addr + chunk), core_bytes.eq(core_bytes - chunk)]
                # the gearbox takes a word while it has room, or empties this cycle
                take = ~gear_full | cmd_fire
                m.d.comb += buf.r_en.eq(take)
                with m.If(buf.r_rdy & take):
                    if self.beat_words == 1:
                        m.d.sync += gear.eq(buf.r_data)
                    else:
                        m.d.sync += gear.eq(Cat(gear[dw:], buf.r_data))
                    m.d.sync += gear_n.eq(Mux(cmd_fire, 1, gear_n + 1))
                with m.If(cmd_fire & (cmd_left == 1)):
                    retire()
                running()

            with m.State("OUT"):
                with m.If(~(o_rd | o_wr | o_geom)):
                    retire()
                running()

            with m.State("REG"):
                with m.If(r_got):
                    m.d.sync += r_got.eq(0)
                    with m.If(r_resp != RESP_OKAY):
                        stop(Error.REG)
                    with m.Else():
                        retire()
                running()

            with m.State("POLL"):
                masked = Signal(32)
                hit = Signal()
                m.d.comb += masked.eq(r_data & ins.poll.mask)
                with m.Switch(ins.poll.cond):
                    with m.Case(Cond.EQ):
                        m.d.comb += hit.eq(masked == ins.poll.value)
                    with m.Case(Cond.NE):
                        m.d.comb += hit.eq(masked != ins.poll.value)
                    with m.Default():
                        m.d.comb += hit.eq(masked >= ins.poll.value)
                with m.If(r_got):
                    m.d.sync += r_got.eq(0)
                    with m.If(r_resp != RESP_OKAY):
                        stop(Error.REG)
                    with m.Elif(hit):
                        retire()
                    with m.Else():
                        m.d.sync += r_ar.eq(1)      # read again
                running()

            with m.State("SCHED"):
                # the current thread waits or has ended: the next one that can run
                with m.If(found):
                    switch()
                running()

            with m.State("SNAP_CMD"):
                m.d.comb += [dma.wr_cmd.valid.eq(1), dma.wr_cmd.p.addr.eq(ins.snapshot.addr),
                             dma.wr_cmd.p.length.eq(self.snap_bytes)]
                with m.If(dma.wr_cmd.ready):
                    m.next = "SNAP_DATA"
                running()

            with m.State("SNAP_DATA"):
                m.d.comb += dma.wr_data.valid.eq(snap_n != self.snap_words)
                with m.If((snap_n == self.snap_words) & ~dma.wr_busy):
                    retire()
                running()

            with m.State("DRAIN"):
                # finish what is in flight: offered beats stay offered, the processor's own
                # reads are dropped, a snapshot's remaining words are written as zero
                m.d.comb += [dma.rd_data.ready.eq(1), dma.wr_data.valid.eq(dma.wr_busy),
                             buf.r_en.eq(1)]
                with m.If(dma.wr_data.valid & dma.wr_data.ready):
                    m.d.sync += snap.eq(0)
                settled = Signal()      # one net: the If and STATUS.stuck read the same
                m.d.comb += settled.eq(~(self.cmd.valid | o_rd | o_wr | o_geom | regs_pending
                                         | dma.rd_busy | dma.wr_busy | buf.r_rdy))
                with m.If(settled | expired):
                    m.d.sync += [self.flush.eq(1), stuck.eq(~settled), timer.eq(0),
                                 gear_n.eq(0), r_got.eq(0), alive.eq(0), waiting.eq(0)]
                    m.next = "FLUSH"

            with m.State("FLUSH"):
                # the top level clears what the program left half done (``flushing``)
                with m.If(~self.flushing | expired):
                    m.d.sync += [irq.eq(1), stuck.eq(stuck | self.flushing)]
                    m.next = "IDLE"

        in_core = fsm.ongoing("CORE")
        issued = Mux(dma.rd_cmd.valid & dma.rd_cmd.ready & in_core, chunk >> lgb, 0)
        arrived = dma.rd_data.valid & dma.rd_data.ready & in_core
        m.d.sync += inflight.eq(inflight + issued - arrived)
        with m.If(fsm.ongoing("DRAIN")):
            m.d.sync += inflight.eq(0)
        m.d.comb += [self.busy.eq(~fsm.ongoing("IDLE")), self.stopping.eq(fsm.ongoing("DRAIN"))]
        return m

    def _decode(self, m, ins, op, chk_addr, chk_len, in_window, bus_aligned, stop, fits,
                retire, r):
        """The DECODE state: check the instruction, start its work, choose the next state."""
        with m.Switch(op):
            with m.Case(Opcode.NOP):
                retire()
            with m.Case(Opcode.END):
                # the thread ends; the last one ends the program
                alive, cur = r["alive"], r["cur"]
                m.d.sync += alive.eq(alive & ~(1 << cur))
                with m.If((alive & ~(1 << cur)) == 0):
                    m.d.sync += [r["done"].eq(1), r["irq"].eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.next = "SCHED"
            with m.Case(Opcode.CORE):
                c = ins.core
                m.d.comb += [chk_addr.eq(c.addr), chk_len.eq(c.beats * self.beat_bytes)]
                with m.If(~fits(c.mask, self.cores) | (c.mask == 0)):
                    stop(Error.OPCODE)
                with m.Elif(~bus_aligned):
                    stop(Error.ALIGN)
                with m.Elif(~in_window):
                    stop(Error.WINDOW)
                with m.Else():
                    # (nested, not an Elif: this choice drives no comb signal, so the comb
                    # chain above holds no test whose branches are all empty)
                    with m.If(c.beats == 0):
                        retire()
                    with m.Else():
                        m.d.sync += [r["cmd_mask"].eq(c.mask), r["cmd_left"].eq(c.beats),
                                     r["core_addr"].eq(c.addr),
                                     r["core_bytes"].eq(c.beats * self.beat_bytes)]
                        m.next = "CORE"
            with m.Case(Opcode.LOAD, Opcode.STORE):
                # LOAD and STORE share the positions of addr and length
                m.d.comb += [chk_addr.eq(ins.load.addr), chk_len.eq(ins.load.length)]
                ld = ins.load
                # a tag-0 read's data goes to the cores: it must name some
                bad_load = (~fits(ld.tag, self.tag_width) | ~fits(ld.mask, self.cores)
                            | ((ld.tag == 0) & (ld.mask == 0)))
                bad_store = ins.store.core >= self.cores
                with m.If(Mux(op == Opcode.LOAD, bad_load, bad_store)):
                    stop(Error.OPCODE)
                with m.Elif(~in_window):
                    stop(Error.WINDOW)
                with m.Else():
                    with m.If(op == Opcode.LOAD):
                        m.d.sync += r["o_rd"].eq(1)
                    with m.Else():
                        m.d.sync += r["o_wr"].eq(1)
                    m.next = "OUT"
            with m.Case(Opcode.GEOM):
                g = ins.geom
                cb = self.coord_bits
                with m.If(~fits(g.mask, self.cores) | (g.mask == 0) | ~fits(g.cin, cb)
                          | ~fits(g.in_h, cb) | ~fits(g.in_w, cb)):
                    stop(Error.OPCODE)
                with m.Else():
                    m.d.sync += r["o_geom"].eq(1)
                    m.next = "OUT"
            with m.Case(Opcode.REG, Opcode.POLL):
                # REG and POLL share the position of reg
                reg = ins.reg.reg
                bad = ~fits(reg, self.reg_addr_width) | (reg[:2] != 0)
                with m.If(bad | ((op == Opcode.POLL) & (ins.poll.cond > Cond.GE))):
                    stop(Error.OPCODE)
                with m.Else():          # nested, as in CORE: sync only
                    with m.If(op == Opcode.REG):
                        m.d.sync += [r["r_aw"].eq(1), r["r_w"].eq(1), r["r_b"].eq(1)]
                        m.next = "REG"
                    with m.Else():
                        m.d.sync += r["r_ar"].eq(1)
                        m.next = "POLL"
            with m.Case(Opcode.WAIT):
                m.d.sync += [r["on_event"].bit_select(r["cur"], 1).eq(0),
                             r["w_mask"][r["cur"]].eq(ins.wait.mask)]
                r["wait"]()
            with m.Case(Opcode.FORK):
                f = ins.fork
                with m.If((f.thread >= self.threads) | r["alive"].bit_select(f.thread, 1)):
                    stop(Error.OPCODE)
                with m.Elif(f.addr[:4] != 0):
                    stop(Error.ALIGN)
                with m.Else():
                    m.d.sync += [r["alive"].bit_select(f.thread, 1).eq(1),
                                 r["pcs"][f.thread].eq(f.addr)]
                    retire()
            with m.Case(Opcode.SIGNAL, Opcode.WAITEV):
                # SIGNAL and WAITEV share the position of event
                e = ins.signal.event
                with m.If(e >= self.events):
                    stop(Error.OPCODE)
                with m.Else():          # nested, as in CORE: sync only
                    with m.If(op == Opcode.SIGNAL):
                        m.d.sync += r["counts"][e].eq(r["counts"][e] + 1)
                        retire()
                    with m.Else():
                        m.d.sync += [r["on_event"].bit_select(r["cur"], 1).eq(1),
                                     r["w_event"][r["cur"]].eq(e),
                                     r["w_count"][r["cur"]].eq(ins.waitev.count)]
                        r["wait"]()
            with m.Case(Opcode.SNAPSHOT):
                m.d.comb += [chk_addr.eq(ins.snapshot.addr), chk_len.eq(self.snap_bytes)]
                with m.If(~bus_aligned):
                    stop(Error.ALIGN)
                with m.Elif(~in_window):
                    stop(Error.WINDOW)
                with m.Else():
                    m.d.sync += [r["snap"].eq(self.counters.as_value()), r["snap_n"].eq(0)]
                    m.next = "SNAP_CMD"
            with m.Default():
                stop(Error.OPCODE)
