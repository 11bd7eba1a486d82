"""The memory side of the accelerator: AXI4 DMA, CSRs and the ROLIN units.

(Filled in step by step; see docs/rolin.md.)
"""

from amaranth.hdl import Module, Signal, unsigned, Mux
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out, connect

from .axi import AxiSignature, AxiLiteSignature
from .csr import AxiLiteCsr, Reg
from .dma import Dma, ERR_BITS, rd_cmd_layout, wr_cmd_layout

__all__ = ["RolinEngine", "REGS", "REG", "ENGINE_ID", "TAG_LOAD", "TAG_LOAD_AUX", "TAG_STORE_AUX"]

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
]
REG = {r.name: r for r in REGS}
ERROR_BITS = dict(ERR_BITS)


class RolinEngine(wiring.Component):
    def __init__(self, *, data_width=16, axi_data_width=64, axi_addr_width=32, axi_max_burst=16,
                 axi_max_outstanding_reads=4, fifo_depth=64):
        self.data_width, self.axi_data_width = data_width, axi_data_width
        self.lanes = axi_data_width // data_width
        self.fifo_depth = fifo_depth
        self._dma = Dma(addr_width=axi_addr_width, data_width=axi_data_width, max_burst=axi_max_burst,
                        max_outstanding_reads=axi_max_outstanding_reads, tag_width=2)
        self._csr = AxiLiteCsr(REGS, addr_width=12)
        super().__init__({
            "axi": Out(AxiSignature(axi_addr_width, axi_data_width)),
            "csr": In(AxiLiteSignature(12, 32)),
            "rd_cmd": In(stream.Signature(rd_cmd_layout(axi_addr_width, 2))),
            "wr_cmd": In(stream.Signature(wr_cmd_layout(axi_addr_width))),
            "st": In(stream.Signature(unsigned(axi_data_width))),
            "ld": Out(stream.Signature(data.StructLayout({"data": unsigned(axi_data_width),
                                                          "mask": unsigned(self.lanes)}))),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = dma = self._dma
        m.submodules.csr = csr = self._csr
        connect(m, wiring.flipped(self.axi), dma.axi)
        connect(m, wiring.flipped(self.csr), csr.bus)
        connect(m, wiring.flipped(self.rd_cmd), dma.rd_cmd)
        connect(m, wiring.flipped(self.wr_cmd), dma.wr_cmd)

        m.d.comb += [
            csr.id.eq(ENGINE_ID),
            csr.status.eq(dma.rd_busy | (dma.wr_busy << 1)),
            csr.errors.eq(dma.errors),
            dma.clear_errors.eq(Mux(csr.error_clear_stb, csr.error_clear, 0)),
            csr.rd_bytes.eq(dma.rd_bytes), csr.wr_bytes.eq(dma.wr_bytes),
            csr.rd_bursts.eq(dma.rd_bursts), csr.wr_bursts.eq(dma.wr_bursts),
            csr.rd_peak_outstanding.eq(dma.rd_peak_outstanding),
            dma.clear_counters.eq(csr.counter_clear_stb & csr.counter_clear[0]),
            dma.limit.eq(csr.limit),
            csr.info.eq(self.lanes | (self.data_width << 8) | ((self.fifo_depth.bit_length() - 1) << 16)),
            self.irq.eq(dma.errors != 0),
        ]

        # Read data by tag: the load FIFO (tag 0).
        m.submodules.ld_fifo = ld_fifo = SyncFIFOBuffered(width=self.axi_data_width, depth=self.fifo_depth)
        m.d.comb += [
            ld_fifo.w_data.eq(dma.rd_data.payload.data),
            ld_fifo.w_en.eq(dma.rd_data.valid),
            dma.rd_data.ready.eq(ld_fifo.w_rdy),
            self.ld.valid.eq(ld_fifo.r_rdy),
            self.ld.payload.data.eq(ld_fifo.r_data),
            ld_fifo.r_en.eq(self.ld.ready),
        ]
        # Store path: straight to the write engine.
        m.d.comb += [
            dma.wr_data.valid.eq(self.st.valid),
            dma.wr_data.payload.eq(self.st.payload),
            self.st.ready.eq(dma.wr_data.ready),
        ]
        return m
