"""The bus a host runtime drives: the one interface between the firmware and a platform.

:class:`Bus` is what the sequencing code (:mod:`ganforge.firmware.runtime.host`)
needs of a platform, and nothing more. A platform (a cocotb testbench, the
Amaranth simulator, a board's driver) implements the abstract methods:

* registers by name, from the block's
  :class:`~ganforge.rtl.bus.regmap.RegisterMap`: :meth:`Bus.read`,
  :meth:`Bus.write` (a 64-bit register: LO then HI). A platform may present
  more names than the map holds (sideband ports that have no CSR yet);
* :meth:`Bus.send`: items (integers, or dicts of a stream layout's fields) on a
  named command stream, returning once the block took the last one;
* :meth:`Bus.start`: run a coroutine beside the caller (the platform's task),
  so several streams can be fed at once; the result is awaitable;
* :meth:`Bus.wait_cycles` and :meth:`Bus.wait_irq` (``TimeoutError`` past the
  budget);
* external memory: :meth:`Bus.put` and :meth:`Bus.get` of bytes.

On top, with the register codecs (:mod:`ganforge.firmware.registers`):
:meth:`Bus.write_fields`, :meth:`Bus.read_fields` and :meth:`Bus.wait_until`
(a register condition with a cycle budget; ``TimeoutError`` naming what it
waited for).
"""

import abc

from ganforge.firmware.registers import decode, encode

__all__ = ["Bus", "WordBus"]


class Bus(abc.ABC):
    """A platform's bus, for the registers of ``regmap`` (see the module).

    Parameters
    ----------
    regmap : RegisterMap
        The block's registers: names, widths and fields.
    """

    def __init__(self, regmap):
        self.regmap = regmap

    # --- what a platform provides -----------------------------------------------------
    @abc.abstractmethod
    async def read(self, name):
        """The value of register ``name`` (an int over its whole width)."""

    @abc.abstractmethod
    async def write(self, name, value):
        """Write ``value`` (an int over the register's width) to register ``name``."""

    @abc.abstractmethod
    async def send(self, stream, items):
        """Put ``items`` on command stream ``stream``; return once the last is taken."""

    @abc.abstractmethod
    def start(self, coro):
        """Run coroutine ``coro`` beside the caller; returns an awaitable for its result."""

    @abc.abstractmethod
    async def wait_cycles(self, cycles):
        """Let ``cycles`` clock cycles pass."""

    @abc.abstractmethod
    async def wait_irq(self, *, cycles):
        """Return once the interrupt is raised (at once if it is); ``TimeoutError`` after
        ``cycles`` cycles without it."""

    @abc.abstractmethod
    async def put(self, addr, data):
        """Write ``data`` (bytes) to external memory at byte address ``addr``."""

    @abc.abstractmethod
    async def get(self, addr, nbytes):
        """``nbytes`` bytes of external memory from byte address ``addr``."""

    # --- built on them ------------------------------------------------------------------
    async def write_fields(self, name, **fields):
        """Write register ``name`` encoded from ``fields`` (fields not given: their reset)."""
        await self.write(name, encode(self.regmap[name], **fields))

    async def read_fields(self, name):
        """Register ``name`` decoded into its fields (a dict)."""
        return decode(self.regmap[name], await self.read(name))

    async def wait_until(self, name, cond, *, cycles, poll=8, what=None):
        """Poll register ``name`` every ``poll`` cycles until ``cond(value)``; returns the
        value. ``TimeoutError`` naming ``what`` (default: the register) after ``cycles``."""
        waited = 0
        while True:
            value = await self.read(name)
            if cond(value):
                return value
            if waited >= cycles:
                raise TimeoutError(f"waited {cycles} cycles for {what or name} "
                                   f"(last {name} = {value:#x})")
            await self.wait_cycles(poll)
            waited += poll


class WordBus(Bus):
    """A :class:`Bus` whose platform moves single 32-bit words of the register bank.

    A platform provides :meth:`raw_read` and :meth:`raw_write` (one word, its AXI
    response code) and the sideband ports (:meth:`get_port`, :meth:`set_port`);
    this class gives :meth:`read` and :meth:`write` by name on top: a 64-bit
    register LO then HI, a value that does not fit the register refused
    (``ValueError``), a response other than OKAY raised as ``RuntimeError``
    naming the register and the address. Names in ``ports`` are sideband ports
    presented as registers (for what has no CSR yet); none may be a register's.
    """

    def __init__(self, regmap, ports=()):
        super().__init__(regmap)
        clash = [p for p in ports if p in regmap]
        if clash:
            raise ValueError(f"ports {', '.join(clash)} are also registers of {regmap.name}")
        self.ports = tuple(ports)

    @abc.abstractmethod
    async def raw_read(self, addr, *, what=None):
        """``(value, resp)`` of one 32-bit read at byte address ``addr`` (``what`` names it
        in a timeout)."""

    @abc.abstractmethod
    async def raw_write(self, addr, value, *, what=None):
        """Write one 32-bit word at byte address ``addr``; returns the response code."""

    @abc.abstractmethod
    def get_port(self, name):
        """The value of sideband port ``name``."""

    @abc.abstractmethod
    def set_port(self, name, value):
        """Drive sideband port ``name`` with ``value``."""

    async def read(self, name):
        if name in self.ports:
            return self.get_port(name)
        reg, value = self.regmap[name], 0
        for w in range(reg.words):
            addr = reg.addr + 4 * w
            word, resp = await self.raw_read(addr, what=f"the CSR read of {name} at {addr:#x}")
            if resp:
                raise RuntimeError(f"CSR read of {name} at {addr:#x} answered {resp}")
            value |= word << (32 * w)
        return value

    async def write(self, name, value):
        if name in self.ports:
            self.set_port(name, int(value))
            return
        reg = self.regmap[name]
        if not 0 <= value < 1 << reg.width:
            raise ValueError(f"register {name}: {value:#x} is not a {reg.width}-bit value")
        for w in range(reg.words):
            addr = reg.addr + 4 * w
            resp = await self.raw_write(addr, value >> (32 * w),
                                        what=f"the CSR write of {name} at {addr:#x}")
            if resp:
                raise RuntimeError(f"CSR write of {name} at {addr:#x} answered {resp}")
