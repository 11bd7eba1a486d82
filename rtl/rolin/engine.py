"""The memory side of the accelerator: AXI4 DMA, CSRs and the ROLIN units.

::

          AXI4-Lite CSRs (csr__*) ──► control, counters, errors, γ/β table
                                            │
   AXI4 (axi__*) ◄──► DMA ── rd_data ──┬─ tag 0 ─► [ld FIFO] ──┐
                      ▲                ├─ tag 1 ─► [aux FIFO] ─┴─► RolinNorm ──► ld (to the core)
                      │                └─ tag 2 ─► [st aux FIFO] ─┐       ▲ fp/ep tables
                      │                                           ▼       │
                      └──── wr_data ◄── RolinStats ◄─────── st (from the core)
                                            │ stats             │
                                            ▼                   │
                                        RolinParams ──► fp/ep tables (per sample and channel)

* **Store path** (``st``): beats from the core go to the DMA write engine
  through :class:`RolinStats`, which gathers ``Σx, Σx²`` (FP) or ``Σdpre,
  Σdpre·x̂`` (EP; the stored IN input arrives by DMA read with tag 2) per
  (sample, channel) map; :class:`RolinParams` turns each map's statistics
  into a table entry. ``discard`` drops the beats instead of writing them
  (an IN statistics pass that stores nothing).
* **Load path** (``ld``): DMA reads with tag 0 (and tag 1, the stored IN
  input, in EP) go through :class:`RolinNorm` — bypass, normalise + ReLU
  (FP), or the IN-backward correction with the ReLU mask (EP) — to the core.

Commands (``rd_cmd``, ``wr_cmd``) come from the core's controller; every
setting, counter and error is a CSR (:data:`REGMAP`). The tag FIFOs hold
``fifo_depth`` beats each: when a load interleaves two tensors (EP: error and
IN input), the controller alternates reads of at most ``fifo_depth`` beats.
The registers and their bit fields are :data:`REGMAP` (rendered in
``docs/registers.md``).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect

from ..bus.axi import AxiSignature, AxiLiteSignature
from ..bus.csr import AxiLiteCsr
from ..bus.dma import Dma, ERR_BITS, rd_cmd_layout, wr_cmd_layout
from .arith import GB_LAYOUT, ep_entry_layout, fp_entry_layout
from ..bus.ld_adapter import load_layout
from ..bus.regmap import Field, Register, RegisterMap
from .norm import RolinNorm
from .params import RolinParams
from .stats import MAX_COUNT_BITS, RolinStats
from ..refuse import Params
from ..unused import declare_unused

__all__ = ["RolinEngine", "REGMAP", "ENGINE_ID", "ERROR_BITS", "TAG_LOAD", "TAG_LOAD_AUX",
           "TAG_STORE_AUX"]

ENGINE_ID = 0x524F4C31          # "ROL1"

#: Read-command tags: where the data of a DMA read goes.
TAG_LOAD, TAG_LOAD_AUX, TAG_STORE_AUX = 0, 1, 2

#: Sticky error bits: the DMA's, then the ROLIN units'.
ERROR_BITS = dict(ERR_BITS, **{name: len(ERR_BITS) + k for k, name in enumerate(
    ("param_coef", "param_offset", "param_domain", "count", "table"))})

_ERROR_DOCS = {
    "rd_zero": "a read of length 0",
    "rd_unaligned": "a read address or length that is not a multiple of the bus width",
    "rd_range": "a read past LIMIT, or one that wraps the address space",
    "rd_bus": "a non-OKAY rresp, or an rid the DMA did not issue",
    "wr_zero": "a write of length 0",
    "wr_unaligned": "a write address or length that is not a multiple of the bus width",
    "wr_range": "a write past LIMIT, or one that wraps the address space",
    "wr_bus": "a non-OKAY bresp, or a bid the DMA did not issue",
    "rd_timeout": "the memory stopped answering a read for the DMA's watchdog: the read was "
                  "given up",
    "wr_timeout": "the memory stopped answering a write for the DMA's watchdog: the write was "
                  "given up, its data taken and dropped",
    "param_coef": "a, c1 or c2 does not fit 32 bits",
    "param_offset": "b or c3 does not fit 48 bits",
    "param_domain": "D <= 0, or a left shift over 32 bits",
    "count": "a restart with a map size of 0, or one that is not a whole number of beats",
    "table": "a restart whose base entry is past the tables (table_depth), a store restart "
             "with CHANNELS 0 or past max_channels, GB_DATA written with GB_ADDR past "
             "max_channels (each done with the address wrapped), or a path that has run "
             "more maps than the tables hold from its base",
}


def _error_fields(clear):
    return [Field(name, bit, doc=f"1 clears ERRORS.{name}" if clear else _ERROR_DOCS[name])
            for name, bit in ERROR_BITS.items()]


#: The engine's registers (the CSR bank's decoder, the firmware's codecs and docs/registers.md).
REGMAP = RegisterMap("RolinEngine", [
    Register("id", 0x000, "ro", doc="constant 0x524F4C31 (\"ROL1\")"),
    Register("status", 0x004, "ro", doc="busy bits", fields=[
        Field("rd_busy", 0, doc="the DMA's read engine is busy"),
        Field("wr_busy", 1, doc="the DMA's write engine is busy"),
        Field("params_busy", 2, doc="the parameter unit is busy or has statistics waiting"),
    ]),
    Register("errors", 0x008, "ro", doc="sticky error bits; irq is their OR",
             fields=_error_fields(clear=False)),
    Register("error_clear", 0x00C, "wo", doc="write 1s to clear error bits",
             fields=_error_fields(clear=True)),
    Register("rd_bytes", 0x010, "ro", 64, doc="bytes read from external memory (LO, HI)"),
    Register("wr_bytes", 0x018, "ro", 64, doc="bytes written to external memory (LO, HI)"),
    Register("rd_bursts", 0x020, "ro", doc="read bursts issued"),
    Register("wr_bursts", 0x024, "ro", doc="write bursts issued"),
    Register("rd_peak_outstanding", 0x028, "ro", doc="most read bursts in flight at once"),
    Register("counter_clear", 0x02C, "wo", 1, doc="clears the byte and burst counters", fields=[
        Field("counters", 0, doc="1 clears RD_BYTES, WR_BYTES, RD_BURSTS, WR_BURSTS, RD_PEAK_OUTSTANDING"),
    ]),
    Register("limit", 0x030, "rw", 64, reset=0xFFFF_FFFF, doc="highest byte address the DMA may touch"),
    Register("info", 0x038, "ro", doc="the engine's build parameters", fields=[
        Field("lanes", 0, 8, doc="elements per bus beat"),
        Field("data_width", 8, 8, doc="bits of an element"),
        Field("log2_fifo_depth", 16, 8, doc="log2 of the beats of each read FIFO"),
    ]),
    Register("mode", 0x040, "rw", 6, doc="what the load and store paths do", fields=[
        Field("ld_mode", 0, 2, doc="load path", values={"bypass": 0, "fp": 1, "ep": 2}),
        Field("st_mode", 2, 2, doc="store path statistics", values={"off": 0, "fp": 1, "ep": 2}),
        Field("st_discard", 4, doc="drop the store path's beats instead of writing them"),
        Field("ld_relu", 5, doc="apply the ReLU (FP) or its mask (EP) on the load path"),
    ]),
    Register("st_count", 0x044, "rw", 17, doc="elements per map on the store path (H*W)"),
    Register("ld_count", 0x048, "rw", 17, doc="elements per map on the load path"),
    Register("channels", 0x04C, "rw", 16, doc="channels of the map gathered on the store path"),
    Register("st_base", 0x050, "rw", 16, doc="table entry of the store path's first map"),
    Register("ld_base", 0x054, "rw", 16, doc="table entry of the load path's first map"),
    Register("eps_q", 0x058, "rw", 32, doc="epsilon in units of 2**(-2 frac_x)"),
    Register("st_shifts", 0x05C, "rw", 28, doc="shifts of the statistics and parameter units", fields=[
        Field("sh_a", 0, 8, signed=True, doc="right shift of a (parameter unit, FP)"),
        Field("b_lshift", 8, 6, doc="left shift of b (parameter unit, FP)"),
        Field("scale_frac", 14, 6, doc="fraction bits of a (statistics unit)"),
        Field("xhat_base", 20, 8, signed=True, doc="shift of x-hat (statistics unit, EP)"),
    ]),
    Register("st_ep_shifts", 0x060, "rw", 14, doc="shifts of the parameter unit in EP", fields=[
        Field("sh_c", 0, 8, signed=True, doc="right shift of c1, c2, c3"),
        Field("c2_extra", 8, 6, doc="extra shift of c2 (2 frac_xhat)"),
    ]),
    Register("ld_shifts", 0x064, "rw", 20, doc="shifts of the normalise unit", fields=[
        Field("scale_frac", 0, 6, doc="fraction bits of a (FP)"),
        Field("coef_frac", 6, 6, doc="fraction bits of c1, c2 (EP)"),
        Field("xhat_base", 12, 8, signed=True, doc="shift of x-hat (EP)"),
    ]),
    Register("gb_addr", 0x068, "rw", 16, doc="channel written by GB_DATA"),
    Register("gb_data", 0x06C, "wo", doc="writes gamma and beta of channel GB_ADDR", fields=[
        Field("gamma", 0, 16, signed=True, doc="gamma"),
        Field("beta", 16, 16, signed=True, doc="beta"),
    ]),
    Register("start", 0x070, "wo", 2, doc="restarts the map numbering of a path", fields=[
        Field("store", 0, doc="1 restarts the store path at ST_BASE"),
        Field("load", 1, doc="1 restarts the load path at LD_BASE"),
    ]),
    Register("param_maps", 0x074, "ro", doc="table entries written by the parameter unit since the "
                                           "store restart"),
    Register("st_maps", 0x078, "ro", doc="maps gathered since the store restart"),
    Register("ld_maps", 0x07C, "ro", doc="maps normalised since the load restart"),
    Register("rd_err_addr", 0x080, "ro", 64, doc="address of the first read beat answered with an "
                                               "error since ERRORS.rd_bus was clear (LO, HI)"),
    Register("wr_err_addr", 0x088, "ro", 64, doc="address of the first write burst answered with "
                                               "an error since ERRORS.wr_bus was clear (LO, HI)"),
], addr_width=12, doc="The ROLIN engine's AXI4-Lite registers (`rtl/rolin/engine.py`), also the "
                      "`csr` port of the Accelerator. Byte addresses; 32-bit words, a 64-bit "
                      "register is LO then HI (reading LO latches HI).")


class RolinEngine(wiring.Component):
    """The memory side of the accelerator: DMA, CSRs and the ROLIN units (see the module).

    Parameters
    ----------
    data_width : int
        Bits of an element: 8 or 16.
    axi_data_width, axi_addr_width, axi_max_burst, axi_max_outstanding_reads : int
        The AXI4 port and the DMA (:class:`~ganforge.rtl.bus.dma.Dma`): 32, 64 or 128;
        32..64; 1..256; 1..16. A beat holds ``lanes = axi_data_width // data_width``
        elements.
    axi_watchdog : int
        Cycles the DMA waits on a memory that stopped answering before it gives the
        transfer up (``rd_timeout``, ``wr_timeout``): 16..2**24.
    fifo_depth : int
        Beats of each of the three read FIFOs (a power of two, at least 4).
    table_depth : int
        (sample, channel) entries of the forward and backward parameter tables, 1..65536.
    max_channels : int
        Entries of the γ/β table, 1..65536.
    count_bits : int
        A map holds at most ``2**count_bits`` elements (1 to 16, and at least one beat).

    Members
    -------
    axi : ``Out(AxiSignature(axi_addr_width, axi_data_width))``
        External memory (the DMA is the manager).
    csr : ``In(AxiLiteSignature(12, 32))``
        The register bank of :data:`REGMAP`.
    rd_cmd : ``In(stream.Signature(rd_cmd_layout(axi_addr_width, 2)))``
        DMA reads ``{addr, length, tag}``; the tag routes the data (:data:`TAG_LOAD`,
        :data:`TAG_LOAD_AUX`, :data:`TAG_STORE_AUX`).
    wr_cmd : ``In(stream.Signature(wr_cmd_layout(axi_addr_width)))``
        DMA writes ``{addr, length}`` of the store path's beats.
    st : ``In(stream.Signature(axi_data_width))``
        The store path: beats from the core, NCHW.
    ld : ``Out(stream.Signature(load_layout(data_width, lanes)))``
        The load path: elements and their ReLU masks, to the core.
    irq : ``Out(1)``
        High while any bit of ``ERRORS`` is set.
    dma_busy : ``Out(2)``
        The DMA's read engine (bit 0) and write engine (bit 1) are busy: a write is done
        in memory once bit 1 has dropped (``STATUS.rd_busy``, ``wr_busy``).

    Latency and throughput
    ----------------------
    One beat per cycle on each path. The store path is combinational through the
    statistics unit to the write engine; the load path has one register (the
    normalise unit). Both lose one cycle at the start of every map (its table
    entry is read). The parameter unit takes 45 cycles per map in FP and 6 in EP,
    so on small maps it sets the store path's pace. The DMA issues a command's
    first AR/AW the cycle after it takes the command; CSR accesses answer the
    cycle after they are taken (:class:`~ganforge.rtl.bus.csr.AxiLiteCsr`).

    Bad input
    ---------
    A bad DMA command (length 0, unaligned, past ``LIMIT``, wrapping) is dropped
    and sets its sticky bit in ``ERRORS``; a restart (``START``) with a map size
    that is 0 or not a whole number of beats sets ``count``; a base entry past the
    tables, ``CHANNELS`` 0 or past ``max_channels``, a ``GB_ADDR`` past ``max_channels``,
    or more maps on a path than the tables hold from its base sets ``table``; a coefficient that
    overflows sets a ``param_*`` bit and is never saturated in silence. ``irq``
    rises with any of them; writing 1s to ``ERROR_CLEAR`` clears them. An unmapped
    CSR address answers SLVERR. A ``LIMIT`` past the DMA's address space allows the
    whole space.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``data_width`` not 8 or 16,
        ``axi_data_width`` not 32, 64 or 128, ``axi_addr_width`` outside 32..64,
        ``axi_max_burst`` outside 1..256, ``axi_max_outstanding_reads`` outside 1..16,
        ``fifo_depth`` not a power of two of at least 4, ``count_bits`` outside 1..16 or
        too small for a map of one beat (``2**count_bits < lanes``), ``table_depth`` or
        ``max_channels`` outside 1..65536.
    """

    def __init__(self, *, data_width=16, axi_data_width=64, axi_addr_width=32, axi_max_burst=16,
                 axi_max_outstanding_reads=4, fifo_depth=64, table_depth=1024, max_channels=64,
                 count_bits=16, axi_watchdog=1 << 16):
        p = Params(self, "RolinEngine")
        p.choice("data_width", data_width, (8, 16))
        p.choice("axi_data_width", axi_data_width, (32, 64, 128))
        p.int("axi_addr_width", axi_addr_width, 32, 64)
        p.int("axi_max_burst", axi_max_burst, 1, 256, " (the AXI4 limit)")
        p.int("axi_max_outstanding_reads", axi_max_outstanding_reads, 1, 16)
        p.int("fifo_depth", fifo_depth, 4)
        if fifo_depth & (fifo_depth - 1):
            p.fail(f"fifo_depth must be a power of two of at least 4, got {fifo_depth}")
        lanes = axi_data_width // data_width
        p.int("count_bits", count_bits, max(1, (lanes - 1).bit_length()), MAX_COUNT_BITS,
              f" (maps of at least one beat of {lanes} elements and at most 2**16)")
        p.int("table_depth", table_depth, 1, 65536, " (the 16-bit ST_BASE/LD_BASE)")
        p.int("max_channels", max_channels, 1, 65536, " (the 16-bit CHANNELS/GB_ADDR)")
        self.data_width, self.axi_data_width = data_width, axi_data_width
        self.axi_addr_width = axi_addr_width
        self.lanes = lanes
        self.fifo_depth, self.table_depth, self.max_channels = fifo_depth, table_depth, max_channels
        self.count_bits = count_bits
        self.chan_bits = max(1, (max_channels - 1).bit_length())
        try:
            self._dma = Dma(addr_width=axi_addr_width, data_width=axi_data_width,
                            max_burst=axi_max_burst, max_outstanding_reads=axi_max_outstanding_reads,
                            tag_width=2, watchdog=axi_watchdog)
        except ValueError as exc:       # the DMA's own rules: the watchdog's range
            p.fail(f"the DMA refuses: {exc}")
        self._csr = AxiLiteCsr(REGMAP)
        super().__init__({
            "axi": Out(AxiSignature(axi_addr_width, axi_data_width)),
            "csr": In(AxiLiteSignature(12, 32)),
            "rd_cmd": In(stream.Signature(rd_cmd_layout(axi_addr_width, 2))),
            "wr_cmd": In(stream.Signature(wr_cmd_layout(axi_addr_width))),
            "st": In(stream.Signature(unsigned(axi_data_width))),
            "ld": Out(stream.Signature(load_layout(data_width, self.lanes))),
            "irq": Out(1),
            "dma_busy": Out(2),
        })

    def elaborate(self, platform):
        m = Module()
        dw, L, cb = self.data_width, self.lanes, self.count_bits
        m.submodules.dma = dma = self._dma
        m.submodules.csr = csr = self._csr
        connect(m, wiring.flipped(self.axi), dma.axi)
        connect(m, wiring.flipped(self.csr), csr.bus)
        connect(m, wiring.flipped(self.rd_cmd), dma.rd_cmd)
        connect(m, wiring.flipped(self.wr_cmd), dma.wr_cmd)

        kw = dict(data_width=dw, count_bits=cb, table_depth=self.table_depth)
        m.submodules.stats = stats = RolinStats(lanes=L, chan_bits=self.chan_bits, **kw)
        m.submodules.params = params = RolinParams(chan_bits=self.chan_bits, **kw)
        m.submodules.norm = norm = RolinNorm(lanes=L, **kw)
        m.submodules.fp_table = fp_table = Memory(shape=fp_entry_layout(dw, cb), depth=self.table_depth,
                                                  init=[])
        m.submodules.ep_table = ep_table = Memory(shape=ep_entry_layout(), depth=self.table_depth, init=[])
        m.submodules.gb_table = gb_table = Memory(shape=GB_LAYOUT, depth=self.max_channels, init=[])
        fp_w, ep_w, gb_w = fp_table.write_port(), ep_table.write_port(), gb_table.write_port()
        fp_r_st, fp_r_ld, ep_r_ld = fp_table.read_port(), fp_table.read_port(), ep_table.read_port()
        gb_r = gb_table.read_port()

        # ---- control registers (fields of REGMAP) ----
        mode, sts, st_ep, lds = csr.mode, csr.st_shifts, csr.st_ep_shifts, csr.ld_shifts
        ld_mode, st_mode = mode.ld_mode, mode.st_mode
        discard, relu = mode.st_discard, mode.ld_relu
        start_st = csr.start_stb & csr.start.store
        start_ld = csr.start_stb & csr.start.load
        m.d.comb += [
            stats.mode.eq(st_mode), stats.count.eq(csr.st_count), stats.channels.eq(csr.channels),
            stats.base.eq(csr.st_base), stats.start.eq(start_st),
            stats.scale_frac.eq(sts.scale_frac), stats.xhat_base.eq(sts.xhat_base),
            params.mode.eq(st_mode), params.count.eq(csr.st_count), params.eps_q.eq(csr.eps_q),
            params.start.eq(start_st),
            params.sh_a.eq(sts.sh_a), params.b_lshift.eq(sts.b_lshift),
            params.sh_c.eq(st_ep.sh_c), params.c2_extra.eq(st_ep.c2_extra),
            norm.mode.eq(ld_mode), norm.relu.eq(relu), norm.count.eq(csr.ld_count),
            norm.base.eq(csr.ld_base), norm.start.eq(start_ld),
            norm.scale_frac.eq(lds.scale_frac), norm.coef_frac.eq(lds.coef_frac),
            norm.xhat_base.eq(lds.xhat_base),
        ]
        # ---- tables ----
        m.d.comb += [
            fp_w.addr.eq(params.fp_wr_addr), fp_w.data.eq(params.fp_wr_data), fp_w.en.eq(params.fp_wr_en),
            ep_w.addr.eq(params.ep_wr_addr), ep_w.data.eq(params.ep_wr_data), ep_w.en.eq(params.ep_wr_en),
            gb_w.addr.eq(csr.gb_addr), gb_w.data.eq(csr.gb_data), gb_w.en.eq(csr.gb_data_stb),
            fp_r_st.addr.eq(stats.fp_rd_addr), stats.fp_rd_data.eq(fp_r_st.data),
            fp_r_ld.addr.eq(norm.fp_rd_addr), norm.fp_rd_data.eq(fp_r_ld.data),
            ep_r_ld.addr.eq(norm.ep_rd_addr), norm.ep_rd_data.eq(ep_r_ld.data),
            gb_r.addr.eq(params.gb_rd_addr), params.gb_rd_data.eq(gb_r.data),
        ]
        connect(m, stats.stats, params.stats)

        # ---- read data, by tag, into three FIFOs ----
        fifos = []
        for name in ("ld_fifo", "ld_aux_fifo", "st_aux_fifo"):
            f = SyncFIFOBuffered(width=self.axi_data_width, depth=self.fifo_depth)
            m.submodules[name] = f
            fifos.append(f)
        ld_f, ld_aux_f, st_aux_f = fifos
        tag = dma.rd_data.payload.tag
        for t, f in enumerate(fifos):
            m.d.comb += [f.w_data.eq(dma.rd_data.payload.data),
                         f.w_en.eq(dma.rd_data.valid & (tag == t))]
        m.d.comb += dma.rd_data.ready.eq(Mux(tag == 0, ld_f.w_rdy,
                                             Mux(tag == 1, ld_aux_f.w_rdy, st_aux_f.w_rdy)))
        # The engine routes read data by tag alone; a command's end (``last``) matters to the
        # command processor's DMA, not here.
        declare_unused(m, "rd_last", dma.rd_data.payload.last)

        # ---- store path: st (+ stored IN input in EP) -> stats -> write engine ----
        st_ep_mode = st_mode == 2
        st_pair = ~st_ep_mode | st_aux_f.r_rdy
        m.d.comb += [
            stats.i.valid.eq(self.st.valid & st_pair),
            stats.i.payload.x.eq(self.st.payload), stats.i.payload.aux.eq(st_aux_f.r_data),
            self.st.ready.eq(stats.i.ready & st_pair),
            st_aux_f.r_en.eq(stats.i.valid & stats.i.ready & st_ep_mode),
            dma.wr_data.valid.eq(stats.o.valid & ~discard),
            dma.wr_data.payload.eq(stats.o.payload),
            stats.o.ready.eq(dma.wr_data.ready | discard),
        ]
        # ---- load path: read FIFOs -> norm -> ld ----
        ld_ep = ld_mode == 2
        ld_pair = ld_f.r_rdy & (~ld_ep | ld_aux_f.r_rdy)
        m.d.comb += [
            norm.i.valid.eq(ld_pair),
            norm.i.payload.x.eq(ld_f.r_data), norm.i.payload.aux.eq(ld_aux_f.r_data),
            ld_f.r_en.eq(ld_pair & norm.i.ready),
            ld_aux_f.r_en.eq(ld_pair & norm.i.ready & ld_ep),
        ]
        connect(m, norm.o, wiring.flipped(self.ld))

        # ---- status, errors, counters ----
        # LIMIT is 64 bits; past the DMA's address space it means the whole space.
        aw = self.axi_addr_width
        limit = Signal(aw)
        m.d.comb += limit.eq(csr.limit[:aw] if aw >= 64 else
                             Mux(csr.limit[aw:] != 0, (1 << aw) - 1, csr.limit[:aw]))
        errors = Signal(len(ERROR_BITS))
        set_err = Signal(len(ERROR_BITS))
        clear = Mux(csr.error_clear_stb, csr.error_clear, 0)
        s = (L - 1).bit_length()
        def bad(count):             # a map must be a whole number of beats, and not empty
            return (count == 0) | ((count[:s] != 0) if s else 0)
        def past_end(maps, base, mode):    # a map has just ended past the tables' end
            lsb = Signal()                  # maps counts up by one: its low bit toggles
            m.d.sync += lsb.eq(maps[0])
            return (mode != 0) & (maps[0] != lsb) & (base + maps > self.table_depth)
        bad_count, bad_table = Signal(), Signal()
        m.d.comb += bad_count.eq((start_st & (st_mode != 0) & bad(csr.st_count))
                                 | (start_ld & (ld_mode != 0) & bad(csr.ld_count)))
        depth, chans = self.table_depth, self.max_channels
        m.d.comb += bad_table.eq(
            (start_st & (st_mode != 0) & ((csr.st_base >= depth) | (csr.channels == 0)
                                          | (csr.channels > chans)))
            | (start_ld & (ld_mode != 0) & (csr.ld_base >= depth))
            | (csr.gb_data_stb & (csr.gb_addr >= chans))
            | past_end(stats.maps, csr.st_base, st_mode) | past_end(norm.maps, csr.ld_base, ld_mode))
        m.d.comb += set_err.eq(params.overflow << ERROR_BITS["param_coef"]
                               | bad_count << ERROR_BITS["count"]
                               | bad_table << ERROR_BITS["table"])
        m.d.sync += errors.eq((errors & ~clear) | set_err)
        m.d.comb += [
            dma.clear_errors.eq(clear[:len(ERR_BITS)]),
            csr.id.eq(ENGINE_ID),
            csr.status.eq(dma.rd_busy | (dma.wr_busy << 1) | ((params.busy | stats.stats.valid) << 2)),
            self.dma_busy.eq(Cat(dma.rd_busy, dma.wr_busy)),
            csr.errors.eq(dma.errors | errors),
            csr.rd_bytes.eq(dma.rd_bytes), csr.wr_bytes.eq(dma.wr_bytes),
            csr.rd_err_addr.eq(dma.rd_err_addr), csr.wr_err_addr.eq(dma.wr_err_addr),
            csr.rd_bursts.eq(dma.rd_bursts), csr.wr_bursts.eq(dma.wr_bursts),
            csr.rd_peak_outstanding.eq(dma.rd_peak_outstanding),
            dma.clear_counters.eq(csr.counter_clear_stb & csr.counter_clear.counters),
            dma.limit.eq(limit),
            csr.info.eq(L | (dw << 8) | ((self.fifo_depth.bit_length() - 1) << 16)),
            csr.param_maps.eq(params.maps), csr.st_maps.eq(stats.maps), csr.ld_maps.eq(norm.maps),
            self.irq.eq((dma.errors | errors) != 0),
        ]
        return m
