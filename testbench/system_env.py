"""cocotb environment of the whole accelerator (:class:`~ganforge.rtl.top.system.System`).

Two memories, chosen by the DUT:

* **model** (the DUT is the System): cocotbext-axi's :class:`AxiRam` on ``axi__*`` (the
  port has 1-bit IDs: the command processor's reads and the engine's), every channel
  paused at random with probability ``throttle``. Every beat is a Python call: the
  memory for protocol tests.
* **rtl** (the DUT is :class:`~ganforge.testbench.sim_system.SimSystem`, which has
  ``cycles``): the memory is inside the design, at the bandwidth and latency the
  environment sets (``rate``, ``latency``); the host reaches it through the backdoor
  (:class:`Backdoor`). No Python runs while a program does: the memory for long runs.

* Registers: cocotbext-axi's :class:`AxiLiteMaster` on ``csr__*``.
* :attr:`SystemEnv.bus`: the firmware runtime's bus on both
  (:class:`~ganforge.testbench.cocotb_bus.CocotbBus`), with ``irq``.
* :attr:`SystemEnv.clock`: rising edges of ``clk`` since the start, and the
  edges of the last ``CTRL.go`` and of its interrupt (the program's cycles).

The models' sources start their payloads at X; the AXI arbiter's ``rready`` (``bready``)
is a mux on ``rid`` (``bid``), X with it even while ``rvalid`` is low, which the R source
cannot take as a bool. So the payloads the models drive start at 0.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ganforge.testbench.cocotb_bus import CocotbBus, axi_models, csr_master
from ganforge.testbench.sim_system import RESET_CYCLES
from ganforge.testbench.streams import reset, start_clock

__all__ = ["SystemEnv", "Backdoor", "PAYLOADS"]

#: The payloads the AXI models drive into the DUT (X until their first transfer).
CSR_PAYLOADS = ("csr__awaddr", "csr__wdata", "csr__wstrb", "csr__araddr")
PAYLOADS = CSR_PAYLOADS + ("axi__bid", "axi__bresp", "axi__rid", "axi__rdata", "axi__rresp",
                           "axi__rlast")


class Clock:
    """Rising edges of ``clk`` from the start (:attr:`now`), the edge of the last ``CTRL.go``
    write (:attr:`go`) and of the interrupt that followed it (:attr:`irq`, None until it
    rises). ``counter``: the DUT's own count of edges (read, no Python each cycle), or
    None (counted here, one call each edge)."""

    def __init__(self, clk, counter=None):
        self.clk, self.counter, self._now, self.go, self.irq = clk, counter, 0, None, None

    @property
    def now(self):
        return int(self.counter.value) if self.counter is not None else self._now

    async def count(self):
        if self.counter is not None:
            return
        while True:
            await RisingEdge(self.clk)
            self._now += 1

    async def watch(self, irq):
        while True:
            await RisingEdge(irq)
            if self.go is not None and self.irq is None:
                self.irq = self.now

    @property
    def program_cycles(self):
        """Cycles from the last GO to its interrupt."""
        if self.go is None or self.irq is None:
            raise RuntimeError("no GO, or no interrupt after it")
        return self.irq - self.go


class Backdoor:
    """The host's way into :class:`~ganforge.testbench.sim_system.SimSystem`'s memory: a
    line of words each clock edge through ``bd_*`` (writes with byte enables, so a partial
    line keeps its other bytes). Only between programs: the design does not see it."""

    def __init__(self, dut):
        self.dut, self.nb = dut, len(dut.bd_wdata) // 8        # bytes of a line

    async def write(self, addr, data):
        d, nb = self.dut, self.nb
        data = bytes(data)
        await RisingEdge(d.clk)
        end = addr + len(data)
        for line in range(addr // nb, (end + nb - 1) // nb):
            lo, hi = max(addr, line * nb), min(end, (line + 1) * nb)
            chunk = bytearray(nb)
            chunk[lo - line * nb:hi - line * nb] = data[lo - addr:hi - addr]
            strobe = ((1 << (hi - lo)) - 1) << (lo - line * nb)
            d.bd_addr.value, d.bd_wdata.value = line, int.from_bytes(chunk, "little")
            d.bd_wstrb.value, d.bd_we.value = strobe, 1
            await RisingEdge(d.clk)
        d.bd_we.value = 0

    async def read(self, addr, n):
        d, nb = self.dut, self.nb
        out = bytearray()
        first, end = addr // nb, (addr + n + nb - 1) // nb
        await RisingEdge(d.clk)
        for line in range(first, end):
            d.bd_addr.value = line
            await RisingEdge(d.clk)
            await ReadOnly()
            out += int(d.bd_rdata.value).to_bytes(nb, "little")
            await RisingEdge(d.clk)
        skip = addr - first * nb
        return bytes(out[skip:skip + n])


class _SystemBus(CocotbBus):
    """The runtime's bus; notes the cycle the host writes ``cp_ctrl`` with ``go``."""

    def __init__(self, *a, clock, **kw):
        super().__init__(*a, **kw)
        self.clock = clock

    async def write(self, name, value):
        if name == "cp_ctrl" and value & 1:
            self.clock.go, self.clock.irq = self.clock.now, None
        await super().write(name, value)


class _BackdoorBus(_SystemBus):
    """The bus with the memory inside the design: :class:`Backdoor` for ``put`` and ``get``."""

    def __init__(self, *a, backdoor, **kw):
        super().__init__(*a, ram=None, **kw)
        self.backdoor = backdoor

    async def put(self, addr, data):
        await self.backdoor.write(addr, data)

    async def get(self, addr, nbytes):
        return await self.backdoor.read(addr, nbytes)


class SystemEnv:
    """Memory, register master, bus and clock around a System DUT; see the module.

    ``rate`` (beats a cycle, a fraction ``(num, den)``) and ``latency`` (cycles) set the
    memory inside a SimSystem; the model memory has neither (use ``throttle``)."""

    def __init__(self, dut, regmap, *, mem_size, throttle, seed, rate=(1, 1), latency=1):
        self.dut = dut
        self.rtl_memory = hasattr(dut, "bd_addr")
        if self.rtl_memory:
            num, den = rate
            if not (0 < num <= den < 256) or not 0 <= latency < 256:
                raise ValueError(f"memory rate {num}/{den} and latency {latency}: need "
                                 f"0 < num <= den < 256, latency 0..255")
            dut.mem_rate_num.value, dut.mem_rate_den.value = num, den
            dut.mem_latency.value = latency
            dut.bd_we.value, dut.bd_addr.value = 0, 0
            dut.bd_wdata.value, dut.bd_wstrb.value = 0, 0
            self.ram, self.csr = None, csr_master(dut)
            payloads = CSR_PAYLOADS
        else:
            if rate != (1, 1) or latency != 1:
                raise ValueError("the memory's rate and latency are set only when it is inside "
                                 "the design (SimSystem); the model memory has throttle")
            self.ram, self.csr = axi_models(dut, mem_size=mem_size, throttle=throttle,
                                            rng=random.Random(seed))
            payloads = PAYLOADS
        for port in payloads:
            getattr(dut, port).value = 0
        self.clock = Clock(dut.clk, dut.cycles if self.rtl_memory else None)
        if self.rtl_memory:
            self.bus = _BackdoorBus(dut, regmap, csr=self.csr, irq=dut.irq, clock=self.clock,
                                    backdoor=Backdoor(dut))
        else:
            self.bus = _SystemBus(dut, regmap, csr=self.csr, ram=self.ram, irq=dut.irq,
                                  clock=self.clock)

    @classmethod
    async def start(cls, dut, regmap, *, mem_size, throttle=0.3, seed=0, rate=(1, 1), latency=1):
        """Clock, models, reset: an environment ready for the host. (A SimSystem resets
        itself: it has no ``rst``.)"""
        has_rst = hasattr(dut, "rst")
        if has_rst:
            dut.rst.value = 1
        await start_clock(dut)
        env = cls(dut, regmap, mem_size=mem_size, throttle=throttle, seed=seed, rate=rate,
                  latency=latency)
        cocotb.start_soon(env.clock.count())
        cocotb.start_soon(env.clock.watch(dut.irq))
        if has_rst:
            await reset(dut)
        await ClockCycles(dut.clk, 2 + (0 if has_rst else RESET_CYCLES))
        return env

    async def reset(self, cycles=4):
        """Hold ``rst`` for ``cycles`` edges, whatever the design is doing (the AXI models
        reset with it; the memory keeps its contents); a SimSystem has no ``rst``."""
        if not hasattr(self.dut, "rst"):
            raise ValueError("this DUT has no rst input (a SimSystem resets itself once)")
        await reset(self.dut, cycles)
        await ClockCycles(self.dut.clk, 2)
