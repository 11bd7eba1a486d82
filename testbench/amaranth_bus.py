"""Amaranth-simulator adapter of the firmware's bus (:class:`ganforge.firmware.runtime.bus.Bus`).

:class:`AmaranthBus` gives the host runtime a component in Amaranth 0.5's
simulator (``amaranth.sim.Simulator``), from async testbenches:

* registers of the map through the component's AXI4-Lite port (``csr`` by
  default; :class:`~ganforge.rtl.bus.axi.AxiLiteSignature`), one 32-bit word
  per access (a 64-bit register: LO then HI); a response other than OKAY
  raises ``RuntimeError`` naming the register and address.
  :meth:`AmaranthBus.raw_read` and :meth:`AmaranthBus.raw_write` give the
  response instead, for tests of the bank;
* ``ports``: sideband ports of the component presented as registers (read:
  the port's value; write: drive it), for what has no CSR yet;
* command streams: ``lib.stream`` ports of the component by name; an item is
  an int (the payload's bits) or a dict of the payload layout's fields;
* ``start``: a pool of ``tasks`` background testbenches, added with the
  caller's testbench by :meth:`AmaranthBus.add_testbench` (the simulator takes
  no new testbench once it runs, so the pool is made beforehand);
* waits count clock edges of ``domain``; every handshake has a budget of
  ``timeout`` cycles, past which ``TimeoutError`` names the register or
  stream it waited for.

External memory: with ``memory=`` (an :class:`~ganforge.testbench.axi_mem.AxiMemory`
on the component's AXI4 port, added to the simulator as a process),
:meth:`AmaranthBus.put` and :meth:`AmaranthBus.get` reach it directly; without
it they raise ``NotImplementedError``.

How the context follows the coroutines: an Amaranth trigger wakes the
testbench whose context made it. Every step of the main testbench and of a
started coroutine runs with :attr:`AmaranthBus.ctx` set to its own
testbench's context, so the same bus methods work in both.
"""

import types
from numbers import Integral

from amaranth.hdl import Signal, Value
from amaranth.lib import data

from ganforge.firmware.compiler.bits import packer
from ganforge.firmware.runtime.bus import WordBus

__all__ = ["AmaranthBus"]


class _Task:
    """A coroutine started by :meth:`AmaranthBus.start`; awaiting it gives its result (or
    raises its exception) once it has finished."""

    def __init__(self, bus, coro):
        self.bus, self.coro = bus, coro
        self.done, self.awaited = False, False
        self.result, self.error = None, None

    def __await__(self):
        return self.bus._join(self).__await__()


class AmaranthBus(WordBus):
    """The runtime's bus on a component in the Amaranth simulator.

    Parameters
    ----------
    dut : wiring.Component
        The simulated component.
    regmap : RegisterMap
        Of the component's register bank.
    csr : interface with :class:`~ganforge.rtl.bus.axi.AxiLiteSignature` members
        The bank's AXI4-Lite subordinate port (``dut.csr`` by default).
    streams : dict of name to ``lib.stream`` interface
        The command streams ``send`` may use (ports the component takes).
    irq : Value
        The interrupt (``dut.irq`` by default).
    ports : names of attributes of ``dut`` presented as registers (none may be a register's).
    tasks : int
        Coroutines that may run beside the main testbench at once (see :meth:`start`).
    timeout : int
        Cycles each handshake (an AXI4-Lite channel, a stream item) may wait.
    domain : str
        The clock domain that waits count.
    memory : AxiMemory or None
        External memory behind the component's AXI4 port
        (:class:`~ganforge.testbench.axi_mem.AxiMemory`); :meth:`put` and :meth:`get`
        reach it directly. Without it they raise.

    Use
    ---
    Build the simulator, then add the testbench that drives the bus with
    :meth:`add_testbench` (instead of ``sim.add_testbench``): ::

        bus = AmaranthBus(dut, REGMAP, streams={"rd_cmd": dut.rd_cmd})
        sim = Simulator(dut)
        sim.add_clock(1e-8)

        async def bench(ctx):
            await EngineHost(bus, fifo_depth=4, bytes_per_beat=8).mode(ld="fp")

        bus.add_testbench(sim, bench)
        sim.run()

    Latency
    -------
    A register word takes 3 cycles to write (AW and W together, then B) and 2 to
    read on :class:`~ganforge.rtl.bus.csr.AxiLiteCsr`; a stream item leaves at the
    first clock edge where ``ready`` is high, items back to back. A started
    coroutine begins in the same time step, after the starting testbench yields.
    """

    def __init__(self, dut, regmap, *, csr=None, streams=None, irq=None, ports=(), tasks=4,
                 timeout=10_000, domain="sync", memory=None):
        super().__init__(regmap, ports)
        if not isinstance(tasks, int) or tasks < 0:
            raise ValueError(f"tasks must be a non-negative integer, got {tasks!r}")
        if not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"timeout must be a positive number of cycles, got {timeout!r}")
        self.dut, self.memory = dut, memory
        self.csr = dut.csr if csr is None else csr
        self.streams = dict(streams or {})
        self.irq = dut.irq if irq is None else irq
        self.tasks, self.timeout, self.domain = tasks, timeout, domain
        self._packers = {}
        for name, port in self.streams.items():
            shape = port.payload.shape() if isinstance(port.payload, data.View) else None
            self._packers[name] = packer(shape) if shape is not None else None
        self.ctx = None                 # the context of the step that runs now
        self._queue, self._busy, self._failed = [], 0, []
        self._kick = None

    # --- the simulator's side ---------------------------------------------------------------
    def add_testbench(self, sim, testbench):
        """Add ``testbench`` (``async def testbench(ctx)``, driving this bus) to ``sim``, with
        the background testbenches that run :meth:`start`'s coroutines. Call before
        ``sim.run()``, once per bus. The testbench fails with the error of a started
        coroutine that raised and was never awaited."""
        if self._kick is not None:
            raise RuntimeError("AmaranthBus.add_testbench: this bus already has its testbench")
        self._kick = Signal(name="amaranth_bus_kick")    # toggled by start(): wakes the pool

        async def main(ctx):
            try:
                await self._stepped(ctx, testbench(ctx))
            except Exception as exc:
                for error in self._lost():
                    exc.add_note(f"a started coroutine had failed: {error!r}")
                raise
            for error in self._lost():
                raise error

        sim.add_testbench(main)
        for _ in range(self.tasks):
            sim.add_testbench(self._worker, background=True)

    def _lost(self):
        """Errors of started coroutines that nobody awaited."""
        return [t.error for t in self._failed if not t.awaited]

    def _stepped(self, ctx, coro):
        """An awaitable that runs ``coro`` one step at a time with ``self.ctx`` set to ``ctx``
        (the triggers it awaits then wake the testbench that owns ``ctx``)."""
        @types.coroutine
        def run():
            value, error = None, None
            while True:
                saved, self.ctx = self.ctx, ctx
                try:
                    yielded = coro.throw(error) if error is not None else coro.send(value)
                except StopIteration as stop:
                    return stop.value
                finally:
                    self.ctx = saved
                value, error = None, None
                try:
                    value = yield yielded
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:        # delivered into the coroutine
                    error = exc
        return run()

    async def _worker(self, ctx):
        while True:
            while not self._queue:
                await ctx.changed(self._kick)
            task = self._queue.pop(0)
            try:
                task.result = await self._stepped(ctx, task.coro)
            except Exception as exc:
                task.error = exc
                self._failed.append(task)
            task.done = True
            self._busy -= 1

    async def _join(self, task):
        task.awaited = True
        ctx = self._context()
        while not task.done:
            await ctx.tick(self.domain)
        if task.error is not None:
            raise task.error
        return task.result

    def _context(self):
        if self.ctx is None:
            raise RuntimeError("AmaranthBus is used outside its testbench: add the testbench "
                               "with bus.add_testbench(sim, testbench)")
        return self.ctx

    async def _edges(self, what, step, *exprs):
        """At each clock edge, ``step(*values)`` with ``exprs`` sampled at the edge, until it
        returns true; ``TimeoutError`` naming ``what`` after ``timeout`` edges."""
        ctx = self._context()
        edges = ctx.tick(self.domain).sample(*exprs).__aiter__()
        try:
            for _ in range(self.timeout):
                _, _, *values = await edges.__anext__()
                if step(*values):
                    return
        finally:
            await edges.aclose()
        raise TimeoutError(f"waited {self.timeout} cycles for {what}")

    # --- raw word access (the response code, for tests of the bank) -------------------------
    async def raw_read(self, addr, *, what=None):
        """``(value, resp)`` of one 32-bit CSR read at byte address ``addr``."""
        ctx, bus = self._context(), self.csr
        what = what or f"the CSR read at {addr:#x}"
        ctx.set(bus.araddr, addr)
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        got = []

        def step(arready, rvalid, rdata, rresp):
            if arready:
                ctx.set(bus.arvalid, 0)
            if rvalid and not ctx.get(bus.arvalid):
                got.append((rdata, rresp))
            return bool(got)
        try:
            await self._edges(what, step, bus.arready, bus.rvalid, bus.rdata, bus.rresp)
        finally:
            ctx.set(bus.arvalid, 0)
            ctx.set(bus.rready, 0)
        return got[0]

    async def raw_write(self, addr, value, *, what=None):
        """Write one 32-bit CSR word (AW and W together); returns the response code."""
        ctx, bus = self._context(), self.csr
        what = what or f"the CSR write at {addr:#x}"
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.wdata, int(value) & 0xFFFF_FFFF)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        got = []

        def step(awready, wready, bvalid, bresp):
            pending = ctx.get(bus.awvalid) or ctx.get(bus.wvalid)
            if awready:
                ctx.set(bus.awvalid, 0)
            if wready:
                ctx.set(bus.wvalid, 0)
            if bvalid and not pending:
                got.append(bresp)
            return bool(got)
        try:
            await self._edges(what, step, bus.awready, bus.wready, bus.bvalid, bus.bresp)
        finally:
            ctx.set(bus.awvalid, 0)
            ctx.set(bus.wvalid, 0)
            ctx.set(bus.bready, 0)
        return got[0]

    # --- Bus --------------------------------------------------------------------------------
    def get_port(self, name):
        return self._context().get(Value.cast(getattr(self.dut, name)))

    def set_port(self, name, value):
        self._context().set(Value.cast(getattr(self.dut, name)), value)

    def _payload(self, stream, n, item):
        pack = self._packers[stream]
        if isinstance(item, Integral):
            return int(item)
        if pack is None or not isinstance(item, dict):
            raise ValueError(f"stream {stream}: item {n} is {item!r}; it takes "
                             + ("ints or dicts of its payload's fields" if pack else "ints"))
        try:
            return pack(item)
        except ValueError as exc:
            raise ValueError(f"stream {stream}: item {n} {item!r}: {exc}") from None

    async def send(self, stream, items):
        try:
            port = self.streams[stream]
        except KeyError:
            raise ValueError(f"no command stream {stream!r} (streams: {', '.join(self.streams)})") \
                from None
        words = [self._payload(stream, n, item) for n, item in enumerate(items)]
        ctx = self._context()
        payload = Value.cast(port.payload)
        try:
            for n, word in enumerate(words):
                ctx.set(payload, word)
                ctx.set(port.valid, 1)
                await self._edges(f"stream {stream} to take item {n} of {len(words)}",
                                  lambda ready: ready, port.ready)
        finally:
            ctx.set(port.valid, 0)

    def start(self, coro):
        """Run ``coro`` in one of the ``tasks`` background testbenches; returns an awaitable of
        its result. ``RuntimeError`` when all are busy, or before :meth:`add_testbench`."""
        if self.ctx is None or self._busy >= self.tasks:
            coro.close()
        ctx = self._context()
        if self._busy >= self.tasks:
            raise RuntimeError(f"AmaranthBus.start: all {self.tasks} task slots are busy "
                               f"(give AmaranthBus more tasks=)")
        task = _Task(self, coro)
        self._busy += 1
        self._queue.append(task)
        ctx.set(self._kick, ~ctx.get(self._kick) & 1)
        return task

    async def wait_cycles(self, cycles):
        if cycles > 0:
            await self._context().tick(self.domain).repeat(cycles)

    async def wait_irq(self, *, cycles):
        ctx = self._context()
        for _ in range(cycles):
            if ctx.get(self.irq):
                return
            await ctx.tick(self.domain)
        if not ctx.get(self.irq):
            raise TimeoutError(f"waited {cycles} cycles for the interrupt")

    async def put(self, addr, data):
        if self.memory is None:
            raise NotImplementedError(
                f"AmaranthBus.put({addr:#x}, ...): no external memory; give the bus "
                "memory=AxiMemory(...) on the component's AXI4 port")
        self.memory.put(addr, data)

    async def get(self, addr, nbytes):
        if self.memory is None:
            raise NotImplementedError(
                f"AmaranthBus.get({addr:#x}, {nbytes}): no external memory; give the bus "
                "memory=AxiMemory(...) on the component's AXI4 port")
        return self.memory.get(addr, nbytes)
