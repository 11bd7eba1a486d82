"""Amaranth-simulator helpers for ``lib.stream`` interfaces, shared by the tests.

The async-testbench counterpart of the cocotb drivers in :mod:`ganforge.testbench.streams`:

- :func:`put` sends items on a stream, dropping ``valid`` at random (probability ``idle``
  each cycle before an item);
- :func:`take` accepts a number of payloads, dropping ``ready`` at random (probability
  ``stall`` each cycle), and records what crossed: it is the sink and the monitor in one;
- :func:`source` and :func:`sink` wrap them as testbenches;
- :func:`simulate` runs testbenches under a cycle budget and, when it is spent, fails naming
  the testbenches that had not finished.

A transfer happens at a clock edge where ``valid`` and ``ready`` are both high;
:func:`take` samples both at the edge (``ctx.tick().sample``), so what it records is
exactly what the design saw.
"""

from numbers import Integral

from amaranth.hdl import Value
from amaranth.sim import Simulator

__all__ = ["put", "take", "source", "sink", "simulate"]


def _check_rng(rng, p, name):
    if not 0 <= p < 1:
        raise ValueError(f"{name} must be a probability in [0, 1), not {p!r}")
    if p and rng is None:
        raise ValueError(f"{name}={p} needs an rng (random.Random or numpy Generator)")


async def put(ctx, stream, items, *, rng=None, idle=0.3):
    """Send every payload of ``items`` on ``stream`` (the stream's driving side).

    An item is what ``ctx.set`` takes for the payload (a dict for a struct layout), or an
    int, which sets the payload's raw bits. Before each item, ``valid`` stays low for a
    cycle with probability ``idle`` (drawn again each cycle from ``rng``). Returns after the
    last transfer with ``valid`` low.
    """
    _check_rng(rng, idle, "idle")
    for item in items:
        while idle and rng.random() < idle:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(Value.cast(stream.payload) if isinstance(item, Integral) else stream.payload, item)
        ctx.set(stream.valid, 1)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def take(ctx, stream, count, *, rng=None, stall=0.3, into=None):
    """Accept ``count`` payloads from ``stream`` (the stream's receiving side); return them.

    Each cycle ``ready`` is low with probability ``stall``. The payloads are the values
    sampled at the transfer edges (views for a struct layout), appended to ``into`` as they
    arrive when given (so another testbench can watch progress). Returns with ``ready``
    low: nothing past the ``count``-th payload is accepted.
    """
    _check_rng(rng, stall, "stall")
    got = [] if into is None else into
    start = len(got)
    while len(got) - start < count:
        ctx.set(stream.ready, int(not stall or rng.random() >= stall))
        _, _, valid, ready, payload = await ctx.tick().sample(stream.valid, stream.ready, stream.payload)
        if valid and ready:
            got.append(payload)
    ctx.set(stream.ready, 0)
    return got


def source(stream, items, *, rng=None, idle=0.3):
    """A testbench that :func:`put`\\ s ``items`` on ``stream``."""
    _check_rng(rng, idle, "idle")

    async def bench(ctx):
        await put(ctx, stream, items, rng=rng, idle=idle)
    return bench


def sink(stream, count, into, *, rng=None, stall=0.3):
    """A testbench that :func:`take`\\ s ``count`` payloads from ``stream`` into the list ``into``."""
    _check_rng(rng, stall, "stall")

    async def bench(ctx):
        await take(ctx, stream, count, rng=rng, stall=stall, into=into)
    return bench


def simulate(dut, testbenches, *, budget, processes=(), vcd=None, period=1e-8):
    """Simulate ``dut`` with a clock until every testbench has returned.

    testbenches : dict
        ``{name: async testbench}``; the names are what a failure reports.
    budget : int
        Clock cycles. When they are spent and a testbench is still running, an
        ``AssertionError`` names every one that is ("... not finished: sink, cmd").
    processes : iterable
        Async functions added with ``add_process`` (background: they do not keep the
        simulation running), e.g. monitors of non-stream signals.
    vcd : str or None
        Write a waveform file.
    """
    if not testbenches:
        raise ValueError("testbenches must name at least one testbench")
    if budget < 1:
        raise ValueError(f"budget must be a positive number of cycles, not {budget!r}")
    done = set()

    def tracked(name, bench):
        async def run(ctx):
            await bench(ctx)
            done.add(name)
        return run

    async def watchdog(ctx):
        for _ in range(budget):          # not tick().repeat(): it cannot be closed mid-wait
            await ctx.tick()
        pending = ", ".join(name for name in testbenches if name not in done)
        raise AssertionError(f"{budget}-cycle budget spent; not finished: {pending}")

    sim = Simulator(dut)
    sim.add_clock(period)
    for name, bench in testbenches.items():
        sim.add_testbench(tracked(name, bench))
    for process in processes:
        sim.add_process(process)
    sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
