"""cocotb environment of :class:`ganforge.rtl.rolin_engine.RolinEngine`.

* External memory is cocotbext-axi's :class:`AxiRam` on the ``axi__*`` ports
  (``bus_separator="__"``: Amaranth flattens the port ``axi`` with member
  ``arvalid`` into ``axi__arvalid``). With ``throttle``, every AXI channel is
  paused at random, so reads see random latency and writes random
  backpressure.
* The CSRs are driven by cocotbext-axi's :class:`AxiLiteMaster` on ``csr__*``.
* DMA commands, the store path ``st`` and the load path ``ld`` are Amaranth
  streams driven by :mod:`ganforge.testbench.streams`.
"""

import logging
import random

from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from ganforge.rtl.dma import rd_cmd_layout, wr_cmd_layout
from ganforge.rtl.rolin_engine import REG
from ganforge.testbench.streams import StreamSink, StreamSource

__all__ = ["RolinEnv", "split_bursts"]


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


def _pauses(rng, p):
    while True:
        yield rng.random() < p


class RolinEnv:
    """Memory, CSR master and stream drivers around a RolinEngine DUT."""

    def __init__(self, dut, *, mem_size, addr_width=32, data_width=64, throttle=0.3, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self.bpb = data_width // 8
        self.addr_width = addr_width
        for name in ("axi", "csr"):          # the models' per-burst INFO lines: quiet
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        self.ram = AxiRam(AxiBus.from_prefix(dut, "axi", bus_separator="__"), dut.clk, dut.rst,
                          reset_active_level=True, size=mem_size)
        self.csr = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "csr", bus_separator="__"), dut.clk,
                                 dut.rst, reset_active_level=True)
        if throttle:
            for ch in (self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                       self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                       self.ram.read_if.r_channel):
                ch.set_pause_generator(_pauses(random.Random(self.rng.random()), throttle))
        idle = throttle
        self.rd_cmd = StreamSource(dut, "rd_cmd", rd_cmd_layout(addr_width, 2), idle=idle,
                                   rng=random.Random(self.rng.random()))
        self.wr_cmd = StreamSource(dut, "wr_cmd", wr_cmd_layout(addr_width), idle=idle,
                                   rng=random.Random(self.rng.random()))
        self.st = StreamSource(dut, "st", None, idle=idle, rng=random.Random(self.rng.random()))
        self.ld = StreamSink(dut, "ld", None, stall=idle, rng=random.Random(self.rng.random()))

    # --- CSRs ------------------------------------------------------------------
    async def read_word(self, addr):
        """``(value, resp)`` of one 32-bit CSR read at byte address ``addr``."""
        r = await self.csr.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def write_word(self, addr, value):
        """Write one 32-bit CSR word; returns the response code."""
        r = await self.csr.write(addr, int(value & 0xFFFF_FFFF).to_bytes(4, "little"))
        return int(r.resp)

    async def get(self, name):
        """A register's value by name (a 64-bit register: LO then HI)."""
        reg = REG[name]
        value, resp = await self.read_word(reg.addr)
        assert resp == 0, f"CSR read of {name} answered {resp}"
        if reg.words == 2:
            hi, resp = await self.read_word(reg.addr + 4)
            assert resp == 0
            value |= hi << 32
        return value

    async def set(self, name, value):
        reg = REG[name]
        for w in range(reg.words):
            resp = await self.write_word(reg.addr + 4 * w, value >> (32 * w))
            assert resp == 0, f"CSR write of {name} answered {resp}"

    # --- DMA --------------------------------------------------------------------
    async def read(self, cmds):
        """Send read commands ``[(addr, length, tag)]``."""
        await self.rd_cmd.send([{"addr": a, "length": n, "tag": t} for a, n, t in cmds])

    async def write_cmds(self, cmds):
        await self.wr_cmd.send([{"addr": a, "length": n} for a, n in cmds])

    async def wait_idle(self, mask=0b11, timeout=200000):
        """Poll STATUS until the busy bits in ``mask`` are clear."""
        for _ in range(timeout // 8):
            if not (await self.get("status")) & mask:
                return
            await ClockCycles(self.dut.clk, 4)
        raise TimeoutError("engine still busy")
