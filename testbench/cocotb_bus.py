"""cocotb adapter of the firmware's bus (:class:`ganforge.firmware.runtime.bus.Bus`).

:class:`CocotbBus` gives the host runtime a DUT under cocotb:

* registers of the map through cocotbext-axi's ``AxiLiteMaster`` (a 64-bit
  register: LO then HI); a response other than OKAY raises ``RuntimeError``
  naming the register and address. :meth:`CocotbBus.raw_read` and
  :meth:`CocotbBus.raw_write` give the response instead, for tests of the bank;
* ``ports``: sideband ports of the DUT presented as registers (read: the
  port's value; write: drive it), for what has no CSR yet;
* command streams: :class:`~ganforge.testbench.streams.StreamSource` by name;
* ``start``: ``cocotb.start_soon``; waits count ``clk`` cycles;
* external memory: cocotbext-axi's ``AxiRam``.
"""

import logging
import random

import cocotb
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from ganforge.firmware.runtime.bus import WordBus

__all__ = ["CocotbBus", "axi_models", "csr_master"]


def _pauses(rng, p):
    while True:
        yield rng.random() < p


def axi_models(dut, *, mem_size, throttle, rng):
    """``(ram, csr)``: cocotbext-axi's AxiRam of ``mem_size`` bytes on the DUT's ``axi__*``
    port (Amaranth flattens port ``axi``'s member ``arvalid`` into ``axi__arvalid``) and its
    AxiLiteMaster on ``csr__*``, both reset by ``rst``. With ``throttle``, every AXI channel
    of the memory pauses at random with that probability (one generator per channel,
    seeded from ``rng``). The models' per-burst INFO lines are quieted."""
    logging.getLogger(f"cocotb.{dut._name}.axi").setLevel(logging.WARNING)
    ram = AxiRam(AxiBus.from_prefix(dut, "axi", bus_separator="__"), dut.clk, dut.rst,
                 reset_active_level=True, size=mem_size)
    csr = csr_master(dut)
    if throttle:
        for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                   ram.read_if.ar_channel, ram.read_if.r_channel):
            ch.set_pause_generator(_pauses(random.Random(rng.random()), throttle))
    return ram, csr


def csr_master(dut):
    """cocotbext-axi's AxiLiteMaster on the DUT's ``csr__*`` port, reset by ``rst`` (when
    the DUT has one), its per-transfer INFO lines quieted."""
    logging.getLogger(f"cocotb.{dut._name}.csr").setLevel(logging.WARNING)
    return AxiLiteMaster(AxiLiteBus.from_prefix(dut, "csr", bus_separator="__"), dut.clk,
                         getattr(dut, "rst", None), reset_active_level=True)


class CocotbBus(WordBus):
    """The runtime's bus on a cocotb DUT.

    Parameters
    ----------
    dut : the cocotb handle (``clk`` is the clock).
    regmap : RegisterMap of the DUT's register bank.
    csr : ``AxiLiteMaster`` on the bank.
    ram : ``AxiRam``, the external memory.
    streams : dict of name to ``StreamSource``.
    irq : the interrupt signal (``dut.irq`` by default).
    ports : names of sideband ports presented as registers (none may be a register's).
    period_ns : the clock's period (:func:`~ganforge.testbench.streams.start_clock`'s), for
        the interrupt's budget.
    """

    def __init__(self, dut, regmap, *, csr, ram, streams=None, irq=None, ports=(), period_ns=10):
        super().__init__(regmap, ports)
        self.dut, self.csr, self.ram, self.period_ns = dut, csr, ram, period_ns
        self.streams = dict(streams or {})
        self.irq = dut.irq if irq is None else irq

    # --- raw word access (the response code, for tests of the bank) -----------------------
    async def raw_read(self, addr, *, what=None):
        """``(value, resp)`` of one 32-bit CSR read at byte address ``addr``."""
        r = await self.csr.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def raw_write(self, addr, value, *, what=None):
        """Write one 32-bit CSR word; returns the response code."""
        r = await self.csr.write(addr, int(value & 0xFFFF_FFFF).to_bytes(4, "little"))
        return int(r.resp)

    # --- Bus --------------------------------------------------------------------------------
    def get_port(self, name):
        return int(getattr(self.dut, name).value)

    def set_port(self, name, value):
        getattr(self.dut, name).value = value

    async def send(self, stream, items):
        try:
            source = self.streams[stream]
        except KeyError:
            raise ValueError(f"no command stream {stream!r} (streams: {', '.join(self.streams)})") \
                from None
        await source.send(list(items))

    def start(self, coro):
        return cocotb.start_soon(coro)

    async def wait_cycles(self, cycles):
        await ClockCycles(self.dut.clk, cycles)

    async def wait_irq(self, *, cycles):
        if int(self.irq.value):
            return
        # One timer of the budget's length, not ClockCycles (a Python call every edge).
        timer = Timer(cycles * self.period_ns, unit="ns")
        if await First(RisingEdge(self.irq), timer) is timer and not int(self.irq.value):
            raise TimeoutError(f"waited {cycles} cycles for the interrupt")

    async def put(self, addr, data):
        self.ram.write(addr, bytes(data))

    async def get(self, addr, nbytes):
        return self.ram.read(addr, nbytes)
