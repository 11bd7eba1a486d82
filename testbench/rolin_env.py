"""cocotb environment of :class:`ganforge.rtl.rolin.engine.RolinEngine` (and of the
accelerator, whose memory side it is).

* External memory is cocotbext-axi's :class:`AxiRam` on the ``axi__*`` ports
  (``bus_separator="__"``: Amaranth flattens the port ``axi`` with member
  ``arvalid`` into ``axi__arvalid``). With ``throttle``, every AXI channel is
  paused at random, so reads see random latency and writes random
  backpressure.
* The CSRs are driven by cocotbext-axi's :class:`AxiLiteMaster` on ``csr__*``.
* :attr:`RolinEnv.bus` is the firmware runtime's bus on all of it
  (:class:`~ganforge.testbench.cocotb_bus.CocotbBus`): registers by name, the
  DMA command streams ``rd_cmd`` and ``wr_cmd`` (plus any ``streams`` given),
  external memory. The sequencing is the firmware's
  (:mod:`ganforge.firmware.runtime.host`).
* The store path ``st`` and the load path ``ld`` are Amaranth streams driven by
  :mod:`ganforge.testbench.streams` (``data_streams=False`` when the DUT
  connects them inside, as the accelerator does): the testbench plays the core.
* :func:`in_layer` gives the firmware's settings of a golden IN block
  (:mod:`ganforge.testbench.rolin_ref`).
"""

import random


from ganforge.firmware import rolin
from ganforge.rtl.bus.dma import rd_cmd_layout, wr_cmd_layout
from ganforge.rtl.rolin.engine import REGMAP
from ganforge.testbench.cocotb_bus import CocotbBus, axi_models
from ganforge.testbench.rolin_ref import COEF_FRAC, FRAC_XHAT, FRAC_Y, SCALE_FRAC
from ganforge.testbench.streams import StreamSink, StreamSource

__all__ = ["RolinEnv", "split_bursts", "in_layer"]


def split_bursts(addr, length, bytes_per_beat, max_burst):
    """The bursts ``[(addr, beats)]`` the DMA must issue for one command (the reference model)."""
    out = []
    left = length // bytes_per_beat
    while left:
        to_4k = (4096 - addr % 4096) // bytes_per_beat
        beats = min(left, max_burst, to_4k)
        out.append((addr, beats))
        addr += beats * bytes_per_beat
        left -= beats
    return out


def in_layer(b):
    """The firmware's :class:`~ganforge.firmware.rolin.InLayer` of golden IN block ``b`` (a dict
    of :func:`~ganforge.testbench.rolin_ref.in_block` / ``in_golden``), with the reference
    network's fraction bits."""
    return rolin.in_layer(count=b["count"], channels=b["x"].shape[1], eps_q=b["eps_q"],
                          gamma=b["gamma"], beta=b["beta"], frac_x=b["fx"], frac_y=FRAC_Y,
                          frac_gamma=b["fg"], frac_dy=b["fdy"], frac_dx=b["frac_dx"],
                          frac_xhat=FRAC_XHAT, scale_frac=SCALE_FRAC, coef_frac=COEF_FRAC)


class RolinEnv:
    """Memory, CSR master and stream drivers around a RolinEngine DUT, and the runtime's
    :attr:`bus` on them. ``streams``: more command streams for the bus (name to
    ``StreamSource``); ``ports``: sideband ports the bus presents as registers."""

    def __init__(self, dut, *, mem_size, addr_width=32, data_width=64, throttle=0.3, seed=0,
                 data_streams=True, streams=None, ports=()):
        self.dut = dut
        self.rng = random.Random(seed)
        self.bpb = data_width // 8
        self.addr_width = addr_width
        self.ram, self.csr = axi_models(dut, mem_size=mem_size, throttle=throttle, rng=self.rng)
        idle = throttle
        self.rd_cmd = StreamSource(dut, "rd_cmd", rd_cmd_layout(addr_width, 2), idle=idle,
                                   rng=random.Random(self.rng.random()))
        self.wr_cmd = StreamSource(dut, "wr_cmd", wr_cmd_layout(addr_width), idle=idle,
                                   rng=random.Random(self.rng.random()))
        self.bus = CocotbBus(dut, REGMAP, csr=self.csr, ram=self.ram, ports=ports,
                             streams=dict({"rd_cmd": self.rd_cmd, "wr_cmd": self.wr_cmd}, **(streams or {})))
        if data_streams:
            self.st = StreamSource(dut, "st", None, idle=idle, rng=random.Random(self.rng.random()))
            self.ld = StreamSink(dut, "ld", None, stall=idle, rng=random.Random(self.rng.random()))
