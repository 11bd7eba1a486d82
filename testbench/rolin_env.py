"""cocotb environment of :class:`ganforge.rtl.rolin.engine.RolinEngine`.

* External memory is cocotbext-axi's :class:`AxiRam` on the ``axi__*`` ports
  (``bus_separator="__"``: Amaranth flattens the port ``axi`` with member
  ``arvalid`` into ``axi__arvalid``). With ``throttle``, every AXI channel is
  paused at random, so reads see random latency and writes random
  backpressure.
* The CSRs are driven by cocotbext-axi's :class:`AxiLiteMaster` on ``csr__*``.
* DMA commands, the store path ``st`` and the load path ``ld`` are Amaranth
  streams driven by :mod:`ganforge.testbench.streams` (``data_streams=False``
  when the DUT connects ``st`` and ``ld`` inside, as the accelerator does).
* :meth:`RolinEnv.store_side` and :meth:`RolinEnv.load_side` program the
  statistics, parameter and normalise units for one IN block.
"""

import logging
import random

import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from ganforge.firmware.rolin import ep_settings, fp_settings
from ganforge.rtl.bus.dma import rd_cmd_layout, wr_cmd_layout
from ganforge.rtl.rolin.engine import REG
from ganforge.testbench.rolin_ref import COEF_FRAC, FRAC_XHAT, FRAC_Y, SCALE_FRAC
from ganforge.testbench.streams import StreamSink, StreamSource

__all__ = ["RolinEnv", "RamRegions", "split_bursts"]


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


class RamRegions:
    """Named int16 tensors in the external memory model, each in a 4 KiB-aligned region of its own
    (so no DMA burst of one tensor crosses into another). ``regions`` maps a name to its byte
    address."""

    def __init__(self, ram):
        self.ram, self.regions, self.next_addr = ram, {}, 0

    def region(self, name, nbytes):
        """The address of ``name``'s region, allocated with ``nbytes`` on first use."""
        if name not in self.regions:
            self.regions[name] = self.next_addr
            self.next_addr += -(-nbytes // 4096) * 4096
        return self.regions[name]

    def put(self, name, arr):
        """Place a tensor in memory without counting it (it is there before the run)."""
        raw = np.ascontiguousarray(arr, dtype="<i2").tobytes()
        self.ram.write(self.region(name, len(raw)), raw)

    def get(self, name, shape):
        """The tensor stored at ``name``'s region, as int64 of ``shape``."""
        n = int(np.prod(shape))
        raw = self.ram.read(self.regions[name], 2 * n)
        return np.frombuffer(raw, dtype="<i2").astype(np.int64).reshape(shape)


class RolinEnv:
    """Memory, CSR master and stream drivers around a RolinEngine DUT."""

    def __init__(self, dut, *, mem_size, addr_width=32, data_width=64, throttle=0.3, seed=0,
                 data_streams=True):
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
        if data_streams:
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

    # --- ROLIN settings of one IN block (a dict of rolin_ref.in_block / in_golden) -------
    async def set_gb(self, b):
        """The block's γ and β into the γ/β table, channel by channel."""
        for c, (g, bt) in enumerate(zip(b["gamma"], b["beta"])):
            await self.set("gb_addr", c)
            await self.set("gb_data", (int(g) & 0xFFFF) | (int(bt) & 0xFFFF) << 16)

    async def store_side(self, b, base):
        """Statistics and parameter units for block ``b``, its first map at table entry ``base``."""
        fp = fp_settings(frac_x=b["fx"], frac_y=FRAC_Y, frac_gamma=b["fg"], scale_frac=SCALE_FRAC)
        eps = ep_settings(frac_x=b["fx"], frac_dy=b["fdy"], frac_dx=b["frac_dx"], frac_gamma=b["fg"],
                          frac_xhat=FRAC_XHAT, coef_frac=COEF_FRAC)
        await self.set("st_count", b["count"])
        await self.set("channels", b["x"].shape[1])
        await self.set("st_base", base)
        await self.set("eps_q", b["eps_q"])
        await self.set("st_shifts", (fp["sh_a"] & 0xFF) | fp["b_lshift"] << 8 | fp["scale_frac"] << 16
                       | (eps["xhat_base"] & 0xFF) << 24)
        await self.set("st_ep_shifts", (eps["sh_c"] & 0xFF) | eps["c2_extra"] << 8)
        await self.set_gb(b)

    async def load_side(self, b, base):
        """Normalise unit for block ``b``, its first map at table entry ``base``."""
        eps = ep_settings(frac_x=b["fx"], frac_dy=b["fdy"], frac_dx=b["frac_dx"], frac_gamma=b["fg"],
                          frac_xhat=FRAC_XHAT, coef_frac=COEF_FRAC)
        await self.set("ld_count", b["count"])
        await self.set("ld_base", base)
        await self.set("ld_shifts", SCALE_FRAC | COEF_FRAC << 8 | (eps["xhat_base"] & 0xFF) << 16)
