"""Run a firmware Program on SparseCore in the Amaranth simulator (tests only)."""

import numpy as np
from amaranth.sim import Simulator

from ganforge.rtl.core import SparseCore, beat_layout, load_layout
from ganforge.rtl.descriptor import descriptor_layout
from ganforge.testbench.core_sim import drain_words


def run_program(prog, core_kwargs, *, seed=0, idle=0.25, stall=0.25, extra_descs=()):
    rng = np.random.default_rng(seed)
    dut = SparseCore(**core_kwargs)
    L = dut.lanes
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    expected = [drain_words(p.desc) for p in prog.passes if p.desc["drain"]]
    drained = [[] for _ in expected]
    state = {"done": False, "cycles": 0}
    counters = {}

    ll = load_layout(L, dut.addr_bits, dut.aw)
    bl = beat_layout(L, dut.dw, dut.cb)
    dl = descriptor_layout(dut.cb)

    async def driver(ctx):
        for p in prog.passes:
            for ld in p.loads:
                ctx.set(dut.load.payload.as_value(), ll.const(ld).as_bits())
                ctx.set(dut.load.valid, 1)
                await ctx.tick().until(dut.load.ready)
            ctx.set(dut.load.valid, 0)
            ctx.set(dut.desc.payload.as_value(), dl.const(p.desc).as_bits())
            ctx.set(dut.desc.valid, 1)
            await ctx.tick().until(dut.desc.ready)
            ctx.set(dut.desc.valid, 0)
            for beat in p.beats:
                while rng.random() < idle:
                    ctx.set(dut.x_in.valid, 0)
                    await ctx.tick()
                word = bl.const({"slot": [{"valid": v, "ci": c, "i": i, "j": j, "value": x}
                                          for v, c, i, j, x in beat["slots"]],
                                 "end": beat["end"]}).as_bits()
                ctx.set(dut.x_in.payload.as_value(), word)
                ctx.set(dut.x_in.valid, 1)
                await ctx.tick().until(dut.x_in.ready)
            ctx.set(dut.x_in.valid, 0)
        for d in extra_descs:
            ctx.set(dut.desc.payload.as_value(), dl.const(d).as_bits())
            ctx.set(dut.desc.valid, 1)
            await ctx.tick().until(dut.desc.ready)
            ctx.set(dut.desc.valid, 0)
            ctx.set(dut.x_in.payload.end, 1)
            ctx.set(dut.x_in.valid, 1)
            await ctx.tick().until(dut.x_in.ready)
            ctx.set(dut.x_in.valid, 0)

    async def sink(ctx):
        for k, n in enumerate(expected):
            while len(drained[k]) < n:
                ctx.set(dut.o.ready, int(rng.random() >= stall))
                await ctx.tick()
        ctx.set(dut.o.ready, 0)
        while ctx.get(dut.busy):
            await ctx.tick()
        await ctx.tick().repeat(4)
        for name in ("macs_issued", "input_zero_skipped", "output_mask_skipped", "cycles_busy",
                     "cycles_stalled", "cycles_idle", "error"):
            counters[name] = ctx.get(getattr(dut, name))
        state["done"] = True

    async def monitor(ctx):
        k = 0
        async for _, _, valid, ready, payload in ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload):
            if valid and ready:
                while k < len(expected) and len(drained[k]) >= expected[k]:
                    k += 1
                drained[k].append([(int(payload[l].value), int(payload[l].mask)) for l in range(L)])

    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.add_process(monitor)
    budget = 5000 + 30 * sum(len(p.loads) + 25 * len(p.beats) + drain_words(p.desc) for p in prog.passes)
    sim.run_until(1e-8 * budget)
    assert state["done"], "the core did not finish the program in its cycle budget"
    return drained, counters
