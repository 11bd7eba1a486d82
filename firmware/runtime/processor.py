"""Running programs on the command processor, over a :class:`~.bus.Bus`.

:class:`ProcessorHost` does what the host does for a whole program: place it
in memory, set the window and the budget, write ``CTRL.go``, wait for the
interrupt, and read the outcome. A program that stops on an error raises
:class:`ProgramError` with the error's name and the failing instruction's
address.
"""

from ganforge.firmware.compiler.cp import assemble
from ganforge.rtl.control.isa import Error

__all__ = ["ProcessorHost", "ProgramError"]


class ProgramError(RuntimeError):
    """A program stopped on an error: ``code`` (an :class:`Error`) at address ``pc``."""

    def __init__(self, code, pc, stuck=False):
        self.code, self.pc, self.stuck = Error(code), pc, stuck
        extra = " (its transfers in flight did not finish)" if stuck else ""
        super().__init__(f"program stopped: {self.code.name} at instruction {pc:#x}{extra}")


class ProcessorHost:
    """The command processor's control over ``bus``: the registers of its ``REGMAP``, named
    with ``prefix`` (``"cp_"`` in :func:`~ganforge.rtl.top.system.system_regmap`)."""

    def __init__(self, bus, prefix=""):
        self.bus, self.prefix = bus, prefix

    def _r(self, name):
        return self.prefix + name

    async def load(self, addr, program):
        """Put ``program`` (``(name, fields)`` instructions) in memory at ``addr``."""
        await self.bus.put(addr, assemble(program))

    async def setup(self, *, window=None, budget=None):
        """Set the window ``(lo, hi)`` and the no-progress budget in cycles (None: keep)."""
        if window is not None:
            await self.bus.write(self._r("win_lo"), window[0])
            await self.bus.write(self._r("win_hi"), window[1])
        if budget is not None:
            await self.bus.write(self._r("budget"), budget)

    async def start(self, base):
        """Start the program at ``base`` (returns at once)."""
        await self.bus.write(self._r("base"), base)
        await self.bus.write_fields(self._r("ctrl"), go=1)

    async def abort(self):
        await self.bus.write_fields(self._r("ctrl"), abort=1)

    async def status(self):
        return await self.bus.read_fields(self._r("status"))

    async def wait(self, *, cycles):
        """Wait for the interrupt (``TimeoutError`` after ``cycles``), then return the number
        of instructions retired, or raise :class:`ProgramError`."""
        await self.bus.wait_irq(cycles=cycles)
        st = await self.status()
        if st["error"]:
            raise ProgramError(st["error"], await self.bus.read(self._r("error_pc")), bool(st["stuck"]))
        if not st["done"]:
            raise RuntimeError(f"interrupt without END or error: status {st}")
        return await self.bus.read(self._r("retired"))

    async def run(self, base, *, cycles):
        """:meth:`start` then :meth:`wait`."""
        await self.start(base)
        return await self.wait(cycles=cycles)
