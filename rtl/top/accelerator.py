"""The accelerator: one sparse core behind the ROLIN engine's DMA.

::

  host ── cmd (descriptors, weights) ───────────────────────────────┐
  host ── geom (one per pass) ──────────┐                           ▼
                                        ▼                  ┌──────────────┐
  AXI4 ◄─► RolinEngine ── ld ──► LoadToElements ── x_in ──►│  SparseCore  │
  AXI-Lite ─► (DMA, CSRs,                                  │  (lanes)     │
   rd_cmd ──►  RolinNorm on ld,                            └──────┬───────┘
   wr_cmd ──►  RolinStats on st) ◄── st ── OutputsToMaps ◄──── o ─┘

* **Load path.** The DMA reads a pass's input (one sample, ``cin`` maps,
  NCHW) through :class:`RolinNorm` (bypass, IN + ReLU in FP, or the IN
  backward with the ReLU mask in EP). :class:`LoadToElements` counts the
  coordinates ``(ci, i, j)`` of each element from the pass geometry the host
  puts on ``geom`` and drops zeros (``ld_keep_zero`` keeps them).
* **Store path.** The core drains a tile as one beat per output position,
  one output channel per lane. :class:`OutputsToMaps` transposes each tile
  into its ``lanes`` maps, channel after channel, which are one contiguous
  NCHW run in memory, so :class:`RolinStats` sees whole maps in order and the
  host writes each tile with one DMA command. ``st_positions`` is the tiles'
  ``out_h·out_w``.
* The core's command stream (``cmd``) and the engine's DMA commands and CSRs
  come from the host.

Rules for the host: a pass carries one sample (descriptor ``slots = 0``),
``in_w`` is a multiple of the engine's lanes (``axi_data_width /
data_width``), and a tile's ``out_h·out_w`` is a multiple of them too.

See :class:`Accelerator` for its parameters, ports and error handling.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ..refuse import Params, refuse
from ..core import COUNTERS as CORE_COUNTERS, SparseCore
from ..bus.ld_adapter import LoadToElements, geom_layout
from ..rolin.engine import RolinEngine
from ..bus.st_adapter import OutputsToMaps

__all__ = ["Accelerator"]

#: The core counters the accelerator brings out: all of them (``core.COUNTERS``).
COUNTERS = CORE_COUNTERS


#: The engine's ports the accelerator brings out as they are.
ENGINE_PORTS = ("axi", "csr", "rd_cmd", "wr_cmd")


class Accelerator(wiring.Component):
    """One :class:`~ganforge.rtl.core.SparseCore` behind the ROLIN engine's DMA, with the
    load and store adapters between them.

    Parameters
    ----------
    core : dict or None
        Keyword arguments of :class:`~ganforge.rtl.core.SparseCore` (None: its defaults).
    engine : dict or None
        Keyword arguments of :class:`~ganforge.rtl.rolin.engine.RolinEngine`.
    max_positions : int
        The largest tile (``out_h·out_w``) of the store adapter; at least 1, at most the
        core's ``out_depth``, a multiple of the engine's lanes.

    Members
    -------
    axi : :py:`Out(AxiSignature(axi_addr_width, axi_data_width))`
        The engine's AXI4 master port.
    csr : :py:`In(AxiLiteSignature(12, 32))`
        The engine's AXI4-Lite register port (its register map).
    rd_cmd, wr_cmd : :py:`In(stream.Signature(...))`
        The engine's DMA commands (:func:`~ganforge.rtl.bus.dma.rd_cmd_layout`,
        :func:`~ganforge.rtl.bus.dma.wr_cmd_layout`).
    cmd : :py:`In(stream.Signature(cmd_layout(...)))`
        The core's command stream.
    geom : :py:`In(stream.Signature(geom_layout(coord_bits)))`
        One ``{cin, in_h, in_w}`` per pass, for the load adapter.
    st_positions : :py:`In(range(max_positions + 1))`
        The tiles' ``out_h·out_w``, for the store adapter.
    ld_keep_zero : :py:`In(1)`
        Send zero elements to the core too (the dense baseline).
    core_error : :py:`Out(4)`
        The core's ``error``.
    ld_error, st_error : :py:`Out(1)`
        The adapters' sticky error bits.
    error_clear : :py:`In(1)`
        Clears the core's and the adapters' errors (the engine's are cleared through its
        ``ERROR_CLEAR`` register).
    irq : :py:`Out(1)`
        The OR of the engine's and the core's interrupts and the adapters' error bits.
    core_busy : :py:`Out(1)`
        The core's ``busy``.
    macs_issued, ..., cycles_idle
        The core's counters (:data:`COUNTERS`), same widths.

    Latency and throughput
    ----------------------
    Those of the parts in series: the DMA, :class:`~ganforge.rtl.rolin.norm.RolinNorm`
    (1 cycle), :class:`~ganforge.rtl.bus.ld_adapter.LoadToElements` (1 cycle, one element
    a cycle) and the core on the load path; the core's drain,
    :class:`~ganforge.rtl.bus.st_adapter.OutputsToMaps` (a tile at a time) and
    :class:`~ganforge.rtl.rolin.stats.RolinStats` on the store path.

    Bad input
    ---------
    Each part's own, reported on ``core_error``, ``ld_error``, ``st_error`` and the
    engine's error register, all raising ``irq``.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``core`` or ``engine`` not a dict (or
        None), ``max_positions`` below 1, above the core's ``out_depth`` or not a multiple
        of the engine's lanes, data widths of the core and the engine that differ; and what a part refuses, with the part's
        message (it names the part and its parameter).
    """

    def __init__(self, *, core=None, engine=None, max_positions=256):
        p = Params(self, "Accelerator")
        for name, value, cls in (("core", core, "SparseCore"), ("engine", engine, "RolinEngine")):
            if value is not None and not isinstance(value, dict):
                p.fail(f"{name} must be a dict of {cls} keyword arguments or None, got {value!r}")
        p.int("max_positions", max_positions, 1)
        core, engine = dict(core or {}), dict(engine or {})
        try:
            self._core = SparseCore(**core)
            self._engine = RolinEngine(**engine)
        except ValueError as exc:
            refuse(self, str(exc))
        if self._core.dw != self._engine.data_width:
            p.fail(f"data_width of the core ({self._core.dw}) and of the engine "
                   f"({self._engine.data_width}) must be equal")
        if max_positions > self._core.out_depth:
            p.fail(f"max_positions must be at most the core's out_depth "
                   f"({self._core.out_depth}), got {max_positions}")
        if max_positions % self._engine.lanes:
            p.fail(f"max_positions must be a multiple of the engine's lanes "
                   f"({self._engine.lanes}), got {max_positions}")
        try:
            self._ld = LoadToElements(lanes=self._core.lanes, words=self._engine.lanes,
                                      data_width=self._core.dw, coord_bits=self._core.cb)
            self._st = OutputsToMaps(lanes=self._core.lanes, words=self._engine.lanes,
                                     data_width=self._core.dw, max_positions=max_positions)
        except ValueError as exc:
            refuse(self, str(exc))
        c, e = self._core, self._engine
        members = {
            # the engine's buses and DMA commands, and the core's command stream, as they are
            **{name: e.signature.members[name] for name in ENGINE_PORTS},
            "cmd": c.signature.members["cmd"],
            "geom": In(stream.Signature(geom_layout(c.cb))),
            "st_positions": In(range(max_positions + 1)),
            "ld_keep_zero": In(1),
            "core_error": Out(4), "ld_error": Out(1), "st_error": Out(1),
            "error_clear": In(1), "irq": Out(1), "core_busy": Out(1),
        }
        for name in COUNTERS:
            members[name] = Out(c.signature.members[name].shape)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self._core
        m.submodules.engine = engine = self._engine
        m.submodules.ld_adapter = ld = self._ld
        m.submodules.st_adapter = st = self._st
        for name in ENGINE_PORTS:                 # the engine's buses, as they are
            connect(m, wiring.flipped(getattr(self, name)), getattr(engine, name))
        connect(m, wiring.flipped(self.cmd), core.cmd)
        connect(m, wiring.flipped(self.geom), ld.geom)
        connect(m, engine.ld, ld.i)
        connect(m, ld.o, core.x_in)
        connect(m, core.o, st.i)
        connect(m, st.o, engine.st)
        m.d.comb += [
            ld.keep_zero.eq(self.ld_keep_zero), st.positions.eq(self.st_positions),
            core.error_clear.eq(self.error_clear), ld.error_clear.eq(self.error_clear),
            st.error_clear.eq(self.error_clear),
            self.core_error.eq(core.error), self.ld_error.eq(ld.error), self.st_error.eq(st.error),
            self.core_busy.eq(core.busy),
            self.irq.eq(engine.irq | core.irq | ld.error | st.error),
        ]
        for name in COUNTERS:
            m.d.comb += getattr(self, name).eq(getattr(core, name))
        return m
