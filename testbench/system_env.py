"""cocotb environment of the whole accelerator (:class:`~ganforge.rtl.top.system.System`).

* External memory: cocotbext-axi's :class:`AxiRam` on ``axi__*`` (the port has 1-bit IDs:
  the command processor's reads and the engine's), every channel paused at random with
  probability ``throttle``.
* Registers: cocotbext-axi's :class:`AxiLiteMaster` on ``csr__*``.
* :attr:`SystemEnv.bus`: the firmware runtime's bus on both
  (:class:`~ganforge.testbench.cocotb_bus.CocotbBus`), with ``irq``.
* :attr:`SystemEnv.clock`: rising edges of ``clk`` counted since the start, and the
  edges of the last ``CTRL.go`` and of its interrupt (the program's cycles).

The models' sources start their payloads at X; the AXI arbiter's ``rready`` (``bready``)
is a mux on ``rid`` (``bid``), X with it even while ``rvalid`` is low, which the R source
cannot take as a bool. So the payloads the models drive start at 0.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from ganforge.testbench.cocotb_bus import CocotbBus, axi_models
from ganforge.testbench.streams import reset, start_clock

__all__ = ["SystemEnv", "PAYLOADS"]

#: The payloads the AXI models drive into the DUT (X until their first transfer).
PAYLOADS = ("csr__awaddr", "csr__awprot", "csr__wdata", "csr__wstrb", "csr__araddr",
            "csr__arprot", "axi__bid", "axi__bresp", "axi__rid", "axi__rdata", "axi__rresp",
            "axi__rlast")


class Clock:
    """Rising edges of ``clk`` counted from the start (:attr:`now`), the edge of the last
    ``CTRL.go`` write (:attr:`go`) and of the interrupt that followed it (:attr:`irq`,
    None until it rises)."""

    def __init__(self, clk):
        self.clk, self.now, self.go, self.irq = clk, 0, None, None

    async def count(self):
        while True:
            await RisingEdge(self.clk)
            self.now += 1

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


class _SystemBus(CocotbBus):
    """The runtime's bus; notes the cycle the host writes ``cp_ctrl`` with ``go``."""

    def __init__(self, *a, clock, **kw):
        super().__init__(*a, **kw)
        self.clock = clock

    async def write(self, name, value):
        if name == "cp_ctrl" and value & 1:
            self.clock.go, self.clock.irq = self.clock.now, None
        await super().write(name, value)


class SystemEnv:
    """Memory, register master, bus and clock around a System DUT; see the module."""

    def __init__(self, dut, regmap, *, mem_size, throttle, seed):
        self.dut = dut
        self.ram, self.csr = axi_models(dut, mem_size=mem_size, throttle=throttle,
                                        rng=random.Random(seed))
        for port in PAYLOADS:
            getattr(dut, port).value = 0
        self.clock = Clock(dut.clk)
        self.bus = _SystemBus(dut, regmap, csr=self.csr, ram=self.ram, irq=dut.irq,
                              clock=self.clock)

    @classmethod
    async def start(cls, dut, regmap, *, mem_size, throttle=0.3, seed=0):
        """Clock, models, reset: an environment ready for the host."""
        dut.rst.value = 1
        await start_clock(dut)
        env = cls(dut, regmap, mem_size=mem_size, throttle=throttle, seed=seed)
        cocotb.start_soon(env.clock.count())
        cocotb.start_soon(env.clock.watch(dut.irq))
        await reset(dut)
        await ClockCycles(dut.clk, 2)
        return env
