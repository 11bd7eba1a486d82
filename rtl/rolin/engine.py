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
setting, counter and error is a CSR (:data:`REGS`). The tag FIFOs hold
``fifo_depth`` beats each: when a load interleaves two tensors (EP: error and
IN input), the controller alternates reads of at most ``fifo_depth`` beats.

Parameters
----------
data_width : element width (16 or 8). axi_* : the DMA's (see :class:`Dma`).
fifo_depth : beats of each read FIFO. table_depth : (sample, channel) entries
of the parameter tables. max_channels : entries of the γ/β table.
count_bits : a map holds at most ``2**count_bits`` elements.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect

from ..bus.axi import AxiSignature, AxiLiteSignature
from ..bus.csr import AxiLiteCsr, Reg
from ..bus.dma import Dma, ERR_BITS, rd_cmd_layout, wr_cmd_layout
from .arith import GB_LAYOUT, ep_entry_layout, fp_entry_layout
from ..bus.ld_adapter import load_layout
from .norm import RolinNorm
from .params import RolinParams
from .stats import RolinStats

__all__ = ["RolinEngine", "REGS", "REG", "ENGINE_ID", "ERROR_BITS", "TAG_LOAD", "TAG_LOAD_AUX",
           "TAG_STORE_AUX"]

ENGINE_ID = 0x524F4C31          # "ROL1"

#: Read-command tags: where the data of a DMA read goes.
TAG_LOAD, TAG_LOAD_AUX, TAG_STORE_AUX = 0, 1, 2

REGS = [
    Reg("id", 0x000, "ro", doc="constant 0x524F4C31"),
    Reg("status", 0x004, "ro", doc="bit 0 read engine busy, 1 write engine busy, 2 parameter unit busy"),
    Reg("errors", 0x008, "ro", doc="sticky error bits (ERROR_BITS)"),
    Reg("error_clear", 0x00C, "wo", doc="write 1s to clear error bits"),
    Reg("rd_bytes", 0x010, "ro", 64, doc="bytes read from external memory (LO, HI)"),
    Reg("wr_bytes", 0x018, "ro", 64, doc="bytes written to external memory (LO, HI)"),
    Reg("rd_bursts", 0x020, "ro", doc="read bursts issued"),
    Reg("wr_bursts", 0x024, "ro", doc="write bursts issued"),
    Reg("rd_peak_outstanding", 0x028, "ro", doc="most read bursts in flight at once"),
    Reg("counter_clear", 0x02C, "wo", doc="write 1 to clear the byte and burst counters"),
    Reg("limit", 0x030, "rw", 64, reset=0xFFFF_FFFF, doc="highest byte address the DMA may touch"),
    Reg("info", 0x038, "ro", doc="lanes [7:0], data width [15:8], log2 FIFO depth [23:16]"),
    Reg("mode", 0x040, "rw", 6, doc="load mode [1:0] (0 bypass, 1 FP, 2 EP), store mode [3:2] "
                                    "(0 off, 1 FP stats, 2 EP stats), store discard [4], load ReLU [5]"),
    Reg("st_count", 0x044, "rw", 17, doc="elements per map on the store path (H*W)"),
    Reg("ld_count", 0x048, "rw", 17, doc="elements per map on the load path"),
    Reg("channels", 0x04C, "rw", 16, doc="channels of the map gathered on the store path"),
    Reg("st_base", 0x050, "rw", 16, doc="table entry of the store path's first map"),
    Reg("ld_base", 0x054, "rw", 16, doc="table entry of the load path's first map"),
    Reg("eps_q", 0x058, "rw", 32, doc="epsilon in units of 2**(-2 frac_x)"),
    Reg("st_shifts", 0x05C, "rw", 32, doc="sh_a [7:0] (signed), b_lshift [13:8], scale_frac [21:16], "
                                          "xhat_base [31:24] (signed)"),
    Reg("st_ep_shifts", 0x060, "rw", 16, doc="sh_c [7:0] (signed), c2_extra [13:8]"),
    Reg("ld_shifts", 0x064, "rw", 24, doc="scale_frac [5:0], coef_frac [13:8], xhat_base [23:16] (signed)"),
    Reg("gb_addr", 0x068, "rw", 16, doc="channel written by GB_DATA"),
    Reg("gb_data", 0x06C, "wo", doc="gamma [15:0], beta [31:16] of channel GB_ADDR"),
    Reg("start", 0x070, "wo", doc="1: restart the store path at ST_BASE; 2: the load path at LD_BASE"),
    Reg("param_maps", 0x074, "ro", doc="table entries written by the parameter unit since the store restart"),
    Reg("st_maps", 0x078, "ro", doc="maps gathered since the store restart"),
    Reg("ld_maps", 0x07C, "ro", doc="maps normalised since the load restart"),
]
REG = {r.name: r for r in REGS}
#: Sticky error bits: the DMA's, then the ROLIN units'.
ERROR_BITS = dict(ERR_BITS, param_coef=8, param_offset=9, param_domain=10, count=11)


class RolinEngine(wiring.Component):
    def __init__(self, *, data_width=16, axi_data_width=64, axi_addr_width=32, axi_max_burst=16,
                 axi_max_outstanding_reads=4, fifo_depth=64, table_depth=1024, max_channels=64,
                 count_bits=16):
        def refuse(msg):
            self._MustUse__silence = True
            raise ValueError(msg)
        if data_width not in (8, 16):
            refuse(f"data_width must be 8 or 16, got {data_width}")
        if axi_data_width not in (32, 64, 128) or axi_data_width < data_width:
            refuse(f"axi_data_width must be 32, 64 or 128, got {axi_data_width}")
        if fifo_depth < 4 or fifo_depth & (fifo_depth - 1):
            refuse(f"fifo_depth must be a power of two of at least 4, got {fifo_depth}")
        if not 1 <= count_bits <= 16:
            refuse(f"count_bits must be between 1 and 16, got {count_bits}")
        if table_depth < 1 or table_depth > 65536 or max_channels < 1 or max_channels > 65536:
            refuse(f"table_depth and max_channels must be between 1 and 65536, "
                   f"got {table_depth}, {max_channels}")
        self.data_width, self.axi_data_width = data_width, axi_data_width
        self.lanes = axi_data_width // data_width
        self.fifo_depth, self.table_depth, self.max_channels = fifo_depth, table_depth, max_channels
        self.count_bits = count_bits
        self.chan_bits = max(1, (max_channels - 1).bit_length())
        try:
            self._dma = Dma(addr_width=axi_addr_width, data_width=axi_data_width,
                            max_burst=axi_max_burst, max_outstanding_reads=axi_max_outstanding_reads,
                            tag_width=2)
        except ValueError as exc:
            refuse(str(exc))
        self._csr = AxiLiteCsr(REGS, addr_width=12)
        super().__init__({
            "axi": Out(AxiSignature(axi_addr_width, axi_data_width)),
            "csr": In(AxiLiteSignature(12, 32)),
            "rd_cmd": In(stream.Signature(rd_cmd_layout(axi_addr_width, 2))),
            "wr_cmd": In(stream.Signature(wr_cmd_layout(axi_addr_width))),
            "st": In(stream.Signature(unsigned(axi_data_width))),
            "ld": Out(stream.Signature(load_layout(data_width, self.lanes))),
            "irq": Out(1),
        })

    @classmethod
    def from_config(cls, config, **kwargs):
        """The engine of an :class:`~ganforge.config.AcceleratorConfig`."""
        return cls(data_width=config.data_width, axi_data_width=config.axi_data_width,
                   axi_addr_width=config.axi_addr_width, axi_max_burst=config.axi_max_burst,
                   axi_max_outstanding_reads=config.axi_max_outstanding_reads, **kwargs)

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

        # ---- control registers ----
        ld_mode, st_mode = csr.mode[0:2], csr.mode[2:4]
        discard, relu = csr.mode[4], csr.mode[5]
        start_st = csr.start_stb & csr.start[0]
        start_ld = csr.start_stb & csr.start[1]
        m.d.comb += [
            stats.mode.eq(st_mode), stats.count.eq(csr.st_count), stats.channels.eq(csr.channels),
            stats.base.eq(csr.st_base), stats.start.eq(start_st),
            stats.scale_frac.eq(csr.st_shifts[16:22]), stats.xhat_base.eq(csr.st_shifts[24:32]),
            params.mode.eq(st_mode), params.count.eq(csr.st_count), params.eps_q.eq(csr.eps_q),
            params.start.eq(start_st),
            params.sh_a.eq(csr.st_shifts[0:8]), params.b_lshift.eq(csr.st_shifts[8:14]),
            params.sh_c.eq(csr.st_ep_shifts[0:8]), params.c2_extra.eq(csr.st_ep_shifts[8:14]),
            norm.mode.eq(ld_mode), norm.relu.eq(relu), norm.count.eq(csr.ld_count),
            norm.base.eq(csr.ld_base), norm.start.eq(start_ld),
            norm.scale_frac.eq(csr.ld_shifts[0:6]), norm.coef_frac.eq(csr.ld_shifts[8:14]),
            norm.xhat_base.eq(csr.ld_shifts[16:24]),
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

        # ---- store path: st (+ stored IN input in EP) -> stats -> write engine ----
        st_ep = st_mode == 2
        st_pair = ~st_ep | st_aux_f.r_rdy
        m.d.comb += [
            stats.i.valid.eq(self.st.valid & st_pair),
            stats.i.payload.x.eq(self.st.payload), stats.i.payload.aux.eq(st_aux_f.r_data),
            self.st.ready.eq(stats.i.ready & st_pair),
            st_aux_f.r_en.eq(stats.i.valid & stats.i.ready & st_ep),
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
        errors = Signal(12)
        set_err = Signal(12)
        clear = Mux(csr.error_clear_stb, csr.error_clear, 0)
        s = (L - 1).bit_length()
        def bad(count):             # a map must be a whole number of beats, and not empty
            return (count == 0) | ((count[:s] != 0) if s else 0)
        bad_count = Signal()
        m.d.comb += bad_count.eq((start_st & (st_mode != 0) & bad(csr.st_count))
                                 | (start_ld & (ld_mode != 0) & bad(csr.ld_count)))
        m.d.comb += set_err.eq(params.overflow << 8 | bad_count << 11)
        m.d.sync += errors.eq((errors & ~clear) | set_err)
        m.d.comb += [
            dma.clear_errors.eq(clear[:8]),
            csr.id.eq(ENGINE_ID),
            csr.status.eq(dma.rd_busy | (dma.wr_busy << 1) | ((params.busy | stats.stats.valid) << 2)),
            csr.errors.eq(dma.errors | errors),
            csr.rd_bytes.eq(dma.rd_bytes), csr.wr_bytes.eq(dma.wr_bytes),
            csr.rd_bursts.eq(dma.rd_bursts), csr.wr_bursts.eq(dma.wr_bursts),
            csr.rd_peak_outstanding.eq(dma.rd_peak_outstanding),
            dma.clear_counters.eq(csr.counter_clear_stb & csr.counter_clear[0]),
            dma.limit.eq(csr.limit),
            csr.info.eq(L | (dw << 8) | ((self.fifo_depth.bit_length() - 1) << 16)),
            csr.param_maps.eq(params.maps), csr.st_maps.eq(stats.maps), csr.ld_maps.eq(norm.maps),
            self.irq.eq((dma.errors | errors) != 0),
        ]
        return m
