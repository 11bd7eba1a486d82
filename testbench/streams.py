"""cocotb drivers for Amaranth ``lib.stream`` interfaces with random throttling.

Amaranth flattens a stream port ``i`` into ``i__valid``, ``i__ready`` and one
vector ``i__payload``; a struct payload is packed into it by its
``amaranth.lib.data`` layout (:func:`~ganforge.firmware.compiler.bits.pack`,
:func:`~ganforge.firmware.compiler.bits.unpack`).
:class:`StreamSource` drives one and :class:`StreamSink` accepts from one.
Both drop ``valid``/``ready`` at random (the ``idle``/``stall``
probabilities), so every handshake path is exercised.

A transfer happens at a rising edge where ``valid`` and ``ready`` are both
high. Both sides sample the settled values in the ``ReadOnly`` phase before
the edge, which works the same on Icarus and on Verilator.

Every wait is bounded: a source whose item is not taken, or a sink that gets no data,
for ``timeout_cycles`` cycles (:data:`WAIT_CYCLES` unless a bench gives its own budget)
raises ``TimeoutError`` naming the stream and how far it got.
"""

import random

from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge

__all__ = ["StreamSource", "StreamSink", "start_clock", "reset", "pack", "unpack", "packer",
           "WAIT_CYCLES"]

#: The budget of a stream wait when a bench gives none: far beyond any bench's longest
#: legitimate silence, so only a design that stopped answering reaches it.
WAIT_CYCLES = 2_000_000

# Re-exported: the encoding is the firmware's (ganforge.firmware.compiler.bits).
from ganforge.firmware.compiler.bits import pack, packer, unpack  # noqa: E402


async def start_clock(dut, period_ns=10):
    """Start ``dut.clk`` (cocotb ``Clock`` with ``unit=``)."""
    from cocotb import start_soon
    from cocotb.clock import Clock
    start_soon(Clock(dut.clk, period_ns, unit="ns").start())


async def reset(dut, cycles=2):
    """Hold Amaranth's synchronous ``rst`` high for ``cycles`` clock edges."""
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


class StreamSource:
    """Drives ``<prefix>__valid`` and the payload; honours ``<prefix>__ready``."""

    def __init__(self, dut, prefix, layout=None, idle=0.3, rng=None):
        self.dut, self.prefix, self.idle, self.layout = dut, prefix, idle, layout
        self.rng = rng or random.Random(0)
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.valid.value = 0

    def _drive(self, item):
        word = pack(self.layout, item) if self.layout is not None else int(item)
        getattr(self.dut, f"{self.prefix}__payload").value = word

    async def send(self, items, timeout_cycles=WAIT_CYCLES):
        """Send every payload of ``items`` (dicts ``{field: int}`` with a layout, else ints);
        ``TimeoutError`` if one is not taken within ``timeout_cycles``."""
        for n, item in enumerate(items):
            while self.rng.random() < self.idle:
                self.valid.value = 0
                await RisingEdge(self.dut.clk)
            self._drive(item)
            self.valid.value = 1
            while True:
                await ReadOnly()
                if self.ready.value:
                    await RisingEdge(self.dut.clk)
                    break
                # Not ready: sleep until ready rises instead of polling every cycle.
                edge = RisingEdge(self.ready)
                if await First(edge, ClockCycles(self.dut.clk, timeout_cycles)) is not edge:
                    raise TimeoutError(f"{self.prefix}: item {n} not taken in {timeout_cycles} "
                                       f"cycles")
        self.valid.value = 0


class StreamSink:
    """Accepts from ``<prefix>__valid``/payload, dropping ``<prefix>__ready`` at random."""

    def __init__(self, dut, prefix, layout=None, stall=0.3, rng=None):
        self.dut, self.prefix, self.stall, self.layout = dut, prefix, stall, layout
        self.rng = rng or random.Random(1)
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.ready.value = 0

    def _sample(self):
        word = getattr(self.dut, f"{self.prefix}__payload").value
        return unpack(self.layout, word) if self.layout is not None else int(word)

    async def receive(self, count, timeout_cycles=WAIT_CYCLES):
        """Return ``count`` payloads: layout views (see :func:`unpack`) with a layout, else
        ints; ``TimeoutError`` after ``timeout_cycles`` cycles without one."""
        out = []
        idle = 0
        while len(out) < count:
            ready = self.rng.random() >= self.stall
            self.ready.value = int(ready)
            await ReadOnly()
            fire = ready and bool(self.valid.value)
            item = self._sample() if fire else None
            if not fire and ready and self.stall == 0:
                # Unthrottled: sleep until data comes, or until the budget runs out.
                edge = RisingEdge(self.valid)
                if await First(edge, ClockCycles(self.dut.clk, timeout_cycles - idle + 1)) is edge:
                    idle = 0
                    continue
                raise TimeoutError(f"{self.prefix}: no data for {timeout_cycles} cycles "
                                   f"after {len(out)} of {count}")
            await RisingEdge(self.dut.clk)
            if fire:
                out.append(item)
                idle = 0
            else:
                idle += 1
                if idle > timeout_cycles:
                    raise TimeoutError(f"{self.prefix}: no data for {timeout_cycles} cycles "
                                       f"after {len(out)} of {count}")
        self.ready.value = 0
        return out
