"""AXI4 and AXI4-Lite signatures, and the constants both sides agree on.

The signatures are written from the *manager's* (master's) side: members the
manager drives are ``Out``. A subordinate (slave) port is ``In(sig)``, which
flips every member.

Member names are the AXI signal names without the channel separator
(``awaddr``, ``rvalid`` ...). Amaranth flattens a port ``axi`` with this
signature into Verilog ports ``axi__awaddr``, ``axi__rvalid`` ...; cocotbext-axi
finds them with ``AxiBus.from_prefix(dut, "axi", bus_separator="__")``.

Only INCR bursts are issued; ``*prot``/``*cache``/``*lock``/``*qos`` are left
out (a subordinate takes their defaults). The AXI4-Lite signature has no
``awprot``/``arprot`` either: the register banks have no protection levels, so a
manager's AxPROT has nothing to connect to (leave it unconnected).
"""

from amaranth.hdl import unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiSignature", "AxiLiteSignature", "BURST_INCR", "RESP_OKAY", "RESP_SLVERR",
           "RESP_DECERR", "BOUNDARY_4K"]

BURST_INCR = 1
RESP_OKAY = 0
RESP_SLVERR = 2
RESP_DECERR = 3
#: An INCR burst must not cross a 4 KiB address boundary (AXI4 A3.4.1).
BOUNDARY_4K = 4096


class AxiSignature(wiring.Signature):
    """AXI4 full, manager side: AW, W, B, AR, R channels, INCR bursts up to 256 beats."""

    def __init__(self, addr_width, data_width, id_width=1):
        if data_width not in (8, 16, 32, 64, 128, 256, 512, 1024):
            raise ValueError(f"AXI data_width must be a power of two from 8 to 1024, got {data_width}")
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        super().__init__({
            "awid": Out(id_width), "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3),
            "awburst": Out(2), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3),
            "arburst": Out(2), "arvalid": Out(1), "arready": In(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, manager side (a register bank takes ``In(AxiLiteSignature(...))``)."""

    def __init__(self, addr_width=12, data_width=32):
        if data_width not in (32, 64):
            raise ValueError(f"AXI-Lite data_width must be 32 or 64, got {data_width}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


def cmd_bits(addr_width):
    """Unsigned shape of a DMA command's address and byte length."""
    return unsigned(addr_width)
