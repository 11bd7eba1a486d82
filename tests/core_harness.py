"""Run a firmware Program on SparseCore in the Amaranth simulator (tests only).

The command stream and the element stream are driven by two independent,
randomly throttled testbenches, as the cocotb bench does; a third takes the
outputs with random back-pressure.
"""

import numpy as np
from amaranth.sim import Simulator

from ganforge.rtl.core import COUNTERS as CORE_COUNTERS, SparseCore, beat_layout
from ganforge.rtl.core.descriptor import CmdKind, cmd_layout
from ganforge.firmware.compiler.encode import pack_program
from ganforge.golden import audit_counts, work_counts

WORK_COUNTERS = ("dense_macs", "output_mask_skipped", "input_zero_skipped", "zero_insertion_skipped")
COUNTERS = CORE_COUNTERS + ("error",)


def run_program(prog, core_kwargs, *, seed=0, idle=0.25, stall=0.25, extra=(), before=(),
                vcd=None, component=SparseCore):
    """Run ``prog``; return ``(drained, counters)`` as
    :func:`ganforge.testbench.simulate_program` does (without its cycle count).

    ``extra`` / ``before``: more ``(cmd, beats)`` to send after / before the program (e.g.
    malformed commands), as dicts for :func:`cmd_layout` and :func:`beat_layout`. They must
    not drain. ``component``: the SparseCore, or a component with its ports (EorsUnit).
    """
    rng = np.random.default_rng(seed)
    dut = component(**core_kwargs)
    L = dut.lanes
    cmd, xs, drains = pack_program(dut, prog)
    cl = cmd_layout(L, dut.addr_bits, dut.aw, dut.cb, dut.out_depth)
    bl = beat_layout(L, dut.dw, dut.cb)
    for c, x in before:
        cmd[:0] = [cl.const(w).as_bits() for w in c]
        xs[:0] = [bl.const(b).as_bits() for b in x]
    for c, x in extra:
        cmd += [cl.const(w).as_bits() for w in c]
        xs += [bl.const(b).as_bits() for b in x]
    expected = [n for n in drains if n]
    drained = [[] for _ in expected]
    state = {"done": False, "sent": 0}
    counters = {}

    def sender(stream, words):
        async def bench(ctx):
            for word in words:
                while rng.random() < idle:
                    ctx.set(stream.valid, 0)
                    await ctx.tick()
                ctx.set(stream.payload.as_value(), word)
                ctx.set(stream.valid, 1)
                await ctx.tick().until(stream.ready)
            ctx.set(stream.valid, 0)
            state["sent"] += 1
        return bench

    async def sink(ctx):
        for k, n in enumerate(expected):
            while len(drained[k]) < n:
                ctx.set(dut.o.ready, int(rng.random() >= stall))
                await ctx.tick()
        ctx.set(dut.o.ready, 0)
        while state["sent"] < 2:
            await ctx.tick()
        while ctx.get(dut.busy):
            await ctx.tick()
        await ctx.tick().repeat(4)
        for name in COUNTERS:
            counters[name] = ctx.get(getattr(dut, name))
        state["done"] = True

    async def monitor(ctx):
        k = 0
        async for _, _, valid, ready, payload in ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload):
            if state["done"]:
                break
            if valid and ready:
                while k < len(expected) and len(drained[k]) >= expected[k]:
                    k += 1
                drained[k].append([(int(payload[l].value), int(payload[l].mask)) for l in range(L)])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(sender(dut.cmd, cmd))
    sim.add_testbench(sender(dut.x_in, xs))
    sim.add_testbench(sink)
    sim.add_testbench(monitor, background=True)
    budget = 3000 + 4 * len(cmd) + 60 * len(xs) + 8 * sum(drains)

    async def watchdog(ctx):
        for _ in range(budget):
            await ctx.tick()
        raise AssertionError(f"the core did not finish the program in {budget} cycles")
    sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    assert state["done"], "the core did not finish the program in its cycle budget"
    return drained, counters


def desc_cmd(desc):
    """A DESC command beat (dict) for ``extra``."""
    return {"kind": int(CmdKind.DESC), "desc": desc}


def golden_work(cases):
    """The golden work counts of ``cases`` [(op, tensors, params)], summed."""
    total = dict.fromkeys(WORK_COUNTERS + ("effective_macs", "false_zero", "missed_zero"), 0)
    for op, t, p in cases:
        for name, v in work_counts(op, t, **p).items():
            total[name] += v
        if p.get("out_mask") is not None:
            for name, v in audit_counts(op, t, **p).items():
                total[name] += v
    return total


def check_counters(counters, golden, dense):
    """The core's MAC counters against the golden work counts, exactly."""
    assert counters["error"] == 0
    assert counters["dense_macs"] == golden["dense_macs"]
    assert counters["zero_insertion_skipped"] == golden["zero_insertion_skipped"]
    if dense:
        # Dense passes apply their masks at the drain after computing every tap: audited.
        assert counters["macs_issued"] == golden["dense_macs"]
        assert counters["output_mask_skipped"] == counters["input_zero_skipped"] == 0
        assert counters["false_zero"] == golden["false_zero"]
        assert counters["missed_zero"] == golden["missed_zero"]
    else:
        assert counters["false_zero"] == counters["missed_zero"] == 0
        assert counters["macs_issued"] == golden["effective_macs"]
        assert counters["output_mask_skipped"] == golden["output_mask_skipped"]
        assert counters["input_zero_skipped"] == golden["input_zero_skipped"]
