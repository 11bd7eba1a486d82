"""The accelerator as a system: the command processor, the ROLIN engine and a cluster of
cores, behind one memory port and one register port.

::

   host ── AXI4-Lite ─► AxiLiteXbar ─┬─► CommandProcessor regs  0x0000
                cp.regs ─► (2 managers)├─► RolinEngine regs      0x1000
                                      └─► Cluster regs          0x2000

   memory ◄── AXI4 ── AxiArbiter ◄─┬── CommandProcessor's DMA (fetches, CORE beats, snapshots)
                                   └── RolinEngine's DMA (tiles)

   CommandProcessor ── cmd, geom ─────────────────────────────► Cluster (cores)
                    ── rd_cmd ─► Cluster ── dma_rd ─► engine DMA ── ld ─► Cluster (route, fan-out)
                    ── wr_cmd ─► Cluster (store queues) ── dma_wr, st ─► engine (stats, DMA)
   Cluster ── idle, core_error, fault, counters ─► CommandProcessor ── irq ─► host
   engine ── dma_busy ─► CommandProcessor (idle inputs 16, 17)

The host writes a program and its data into memory, the processor's ``BASE``,
window and ``CTRL.go`` (registers :func:`system_regmap`), then waits for
``irq``. The processor's ``REG`` and ``POLL`` instructions reach the same
register map as the host.

See :class:`System` for its parameters and ports.
"""

from dataclasses import replace

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ..refuse import Params, refuse
from ..bus.axi import AxiLiteSignature, AxiSignature
from ..bus.axi_arbiter import AxiArbiter
from ..bus.axil_xbar import AxiLiteXbar
from ..bus.regmap import RegisterMap
from ..cluster.cluster import Cluster, cluster_regmap
from ..control.processor import REGMAP as CP_REGMAP, CommandProcessor
from ..rolin.engine import REGMAP as ENGINE_REGMAP, RolinEngine

__all__ = ["System", "BANKS", "system_regmap", "IDLE_WRITES", "IDLE_READS", "FLUSH_QUIET"]

#: The processor's ``idle`` inputs (what ``WAIT`` waits for): bit ``c`` is core ``c``
#: done (:attr:`Cluster.idle <ganforge.rtl.cluster.cluster.Cluster>`: its tiles passed to
#: the store path), and these two bits the engine's DMA with no write (every write done in
#: memory) and no read in flight.
IDLE_WRITES, IDLE_READS = 16, 17

#: Cycles the cluster and the engine's DMA stay quiet, after a program stopped, before the
#: cluster's datapath is reset (longer than the engine's load pipeline).
FLUSH_QUIET = 16

#: The register banks: name, base address, the register names' prefix.
BANKS = (("cp", 0x0000), ("engine", 0x1000), ("cluster", 0x2000))
_ADDR_WIDTH = 14


def system_regmap(cores, max_positions):
    """Every register of the system, named ``<bank>_<register>`` at its system address, for
    ``cores`` cores and tiles of at most ``max_positions`` positions
    (:func:`~ganforge.rtl.cluster.cluster.cluster_regmap`)."""
    maps = {"cp": CP_REGMAP, "engine": ENGINE_REGMAP,
            "cluster": cluster_regmap(cores, max_positions)}
    regs = [replace(r, name=f"{bank}_{r.name}", addr=base + r.addr)
            for bank, base in BANKS for r in maps[bank]]
    return RegisterMap("System", regs, addr_width=_ADDR_WIDTH,
                       doc="The accelerator's registers: the command processor's, the "
                           "engine's and the cluster's.")


class System(wiring.Component):
    """The whole accelerator: a :class:`~ganforge.rtl.control.processor.CommandProcessor`
    runs programs on a :class:`~ganforge.rtl.cluster.cluster.Cluster` of sparse cores and
    the :class:`~ganforge.rtl.rolin.engine.RolinEngine`.

    Parameters
    ----------
    cores : int
        Sparse cores, 1..16.
    core : dict or None
        Keyword arguments of each :class:`~ganforge.rtl.core.SparseCore`.
    engine : dict or None
        Keyword arguments of the :class:`~ganforge.rtl.rolin.engine.RolinEngine` (its AXI
        widths are the system's).
    max_positions : int
        The largest tile of a store adapter (at least 1, at most the cores' ``out_depth``).
    max_burst : int
        Longest burst of the command processor's fetches and reads, 1..256.
    threads : int or None
        Threads of the command processor's programs, 1..8 (one per group of cores that runs
        at the same time as the others); None: one per core, at most 8. The processor has as
        event counters as twice its threads (one per thread to join it, the others free).

    Members
    -------
    axi : :py:`Out(AxiSignature(axi_addr_width, axi_data_width, id_width=1))`
        External memory.
    csr : :py:`In(AxiLiteSignature(14, 32))`
        The registers (:func:`system_regmap`).
    irq : :py:`Out(1)`
        The command processor's interrupt: a program ended or stopped on an error.

    Latency and throughput
    ----------------------
    Those of the parts; the memory port is shared between the two DMAs (reads of both in
    flight at once, writes one burst at a time).

    After a program stops (an error, ``ABORT``), the cluster is cleared before the
    processor's interrupt: its load words are dropped, the store being served ends (zeros
    where its core has no words), and once the cluster and the engine's DMA have been quiet
    for :data:`FLUSH_QUIET` cycles the cluster's datapath is reset. The engine's own state
    (its ROLIN statistics and tables) is not cleared: the next program sets its modes.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``cores`` outside 1..16, ``core`` or
        ``engine`` not a dict (or None), ``max_positions`` below 1, ``max_burst`` outside
        1..256, ``threads`` outside 1..8, data widths of the cores and the engine that differ; and what a part
        refuses, with the part's message (it names the part and its parameter).
    """

    def __init__(self, *, cores=1, core=None, engine=None, max_positions=64, max_burst=16,
                 threads=None):
        p = Params(self, "System")
        p.int("cores", cores, 1, 16)
        for name, value, cls in (("core", core, "SparseCore"), ("engine", engine, "RolinEngine")):
            if value is not None and not isinstance(value, dict):
                p.fail(f"{name} must be a dict of {cls} keyword arguments or None, got {value!r}")
        p.int("max_positions", max_positions, 1)
        p.int("max_burst", max_burst, 1, 256, " (the AXI4 limit)")
        if threads is None:
            threads = min(cores, 8)
        p.int("threads", threads, 1, 8)
        engine = dict(engine or {})
        try:
            self._engine = RolinEngine(**engine)
            e = self._engine
            self._cluster = Cluster(cores=cores, core=core, words=e.lanes,
                                    addr_width=e.axi_addr_width, max_positions=max_positions)
            cl = self._cluster
            if cl.data_width != e.data_width:
                p.fail(f"data_width of the cores ({cl.data_width}) and of the engine "
                       f"({e.data_width}) must be equal")
            self._cp = CommandProcessor(addr_width=e.axi_addr_width, data_width=e.axi_data_width,
                                        max_burst=max_burst, cores=cores, cmd_width=cl.cmd_width,
                                        coord_bits=cl.coord_bits, tag_width=2,
                                        counters=len(cl.counter_names),
                                        reg_addr_width=_ADDR_WIDTH, threads=threads,
                                        events=2 * threads)
        except ValueError as exc:
            refuse(self, str(exc))
        self.cores = cores
        self.regmap = system_regmap(cores, max_positions)
        self.addr_width, self.data_width = e.axi_addr_width, e.axi_data_width
        super().__init__({
            "axi": Out(AxiSignature(e.axi_addr_width, e.axi_data_width, id_width=1)),
            "csr": In(AxiLiteSignature(_ADDR_WIDTH, 32)),
            "irq": Out(1),
        })

    @property
    def cluster(self):
        return self._cluster

    @property
    def processor(self):
        return self._cp

    def elaborate(self, platform):
        m = Module()
        cp, engine, cluster = self._cp, self._engine, self._cluster
        m.submodules.cp, m.submodules.engine, m.submodules.cluster = cp, engine, cluster

        m.submodules.xbar = xbar = AxiLiteXbar(
            managers=2, addr_width=_ADDR_WIDTH,
            banks=[(0x0000, CP_REGMAP.addr_width), (0x1000, ENGINE_REGMAP.addr_width),
                   (0x2000, cluster.regmap.addr_width)])
        connect(m, wiring.flipped(self.csr), xbar.m[0])
        connect(m, cp.regs, xbar.m[1])
        connect(m, xbar.s0, cp.csr)
        connect(m, xbar.s1, engine.csr)
        connect(m, xbar.s2, cluster.csr)

        m.submodules.axi_arbiter = arb = AxiArbiter(addr_width=self.addr_width,
                                                    data_width=self.data_width)
        connect(m, cp.axi, arb.m0)
        connect(m, engine.axi, arb.m1)
        connect(m, arb.axi, wiring.flipped(self.axi))

        connect(m, cp.cmd, cluster.cmd)
        connect(m, cp.geom, cluster.geom)
        connect(m, cp.rd_cmd, cluster.rd_cmd)
        connect(m, cluster.dma_rd, engine.rd_cmd)
        connect(m, engine.ld, cluster.ld)
        connect(m, cp.wr_cmd, cluster.wr_cmd)
        connect(m, cluster.dma_wr, engine.wr_cmd)
        connect(m, cluster.st, engine.st)
        # While a program stops (error, ABORT) and after, until its datapath is reset, the
        # cluster takes and drops what the processor offers and the load words, and ends the
        # store being served. After the processor's ``flush`` pulse, once nothing has moved for
        # FLUSH_QUIET cycles (the engine's DMA idle, its load pipeline empty) its datapath is
        # reset; the processor waits for that (``flushing``) before its interrupt.
        flushing = Signal()
        quiet_for = Signal(range(FLUSH_QUIET + 1))
        quiet = cluster.quiet & (engine.dma_busy == 0)
        m.d.comb += [cluster.flush.eq(cp.stopping | flushing | cp.flush),
                     cp.flushing.eq(flushing | cp.flush)]
        with m.If(cp.flush):
            m.d.sync += [flushing.eq(1), quiet_for.eq(0)]
        with m.Elif(flushing):
            with m.If(~quiet):
                m.d.sync += quiet_for.eq(0)
            with m.Elif(quiet_for == FLUSH_QUIET):
                m.d.comb += cluster.flush_reset.eq(1)
                m.d.sync += flushing.eq(0)
            with m.Else():
                m.d.sync += quiet_for.eq(quiet_for + 1)

        m.d.comb += [
            cp.idle.eq(cluster.idle | (~engine.dma_busy[1] << IDLE_WRITES)
                       | (~engine.dma_busy[0] << IDLE_READS)),
            cp.core_error.eq(cluster.core_error),
            cp.fault.eq(cluster.fault | engine.irq), cp.counters.eq(cluster.counters),
            self.irq.eq(cp.irq),
        ]
        return m
