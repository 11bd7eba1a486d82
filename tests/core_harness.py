"""Run a firmware Program on SparseCore in the Amaranth simulator (tests only).

The command stream and the element stream are driven by two independent,
randomly throttled testbenches, as the cocotb bench does; a third takes the
outputs with random back-pressure (:mod:`sim_streams`), all under a cycle budget.
"""

import numpy as np

from ganforge.rtl.core import COUNTERS as CORE_COUNTERS, SparseCore, beat_layout
from ganforge.rtl.core.descriptor import CmdKind, cmd_layout
from ganforge.firmware.compiler.encode import hardware_loads, pack_program
from ganforge.golden import audit_counts, work_counts

from sim_streams import put, simulate, take

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
    cl = cmd_layout(L, dut.addr_bits, dut.lw, dut.cb, dut.out_depth)
    bl = beat_layout(L, dut.dw, dut.cb)
    def words(c):            # a BIAS load as the core takes it: in pieces
        return [cl.const(w).as_bits() for w in hardware_loads(dut, {"nloads": 0}, c)[1]]
    for c, x in before:
        cmd[:0] = words(c)
        xs[:0] = [bl.const(b).as_bits() for b in x]
    for c, x in extra:
        cmd += words(c)
        xs += [bl.const(b).as_bits() for b in x]
    expected = [n for n in drains if n]
    beats, sent, counters = [], [], {}

    def sender(stream, words):
        async def bench(ctx):
            await put(ctx, stream, words, rng=rng, idle=idle)
            sent.append(stream)
        return bench

    async def sink(ctx):
        await take(ctx, dut.o, sum(expected), rng=rng, stall=stall, into=beats)
        while len(sent) < 2:
            await ctx.tick()
        while ctx.get(dut.busy):
            await ctx.tick()
        await ctx.tick().repeat(4)
        for name in COUNTERS:
            counters[name] = ctx.get(getattr(dut, name))

    budget = 3000 + 4 * len(cmd) + 60 * len(xs) + 8 * sum(drains)
    simulate(dut, {"the command sender": sender(dut.cmd, cmd),
                   "the element sender": sender(dut.x_in, xs),
                   "the output sink (drains, then idle)": sink}, budget=budget, vcd=vcd)
    lanes = [[(int(p[l].value), int(p[l].mask)) for l in range(L)] for p in beats]
    drained = []
    for n in expected:
        drained.append(lanes[:n])
        lanes = lanes[n:]
    return drained, counters


def op_tensors(op, make, *, n, cin, cout, k, hw, out, params):
    """The tensors of ``op`` on a layer of these sizes (``hw``: the input map of the forward
    layer, ``out``: its output map), each array ``make(shape, sparse)`` (weights dense); adds
    the op's own parameters to ``params`` (``input_hw``, ``kernel_size``)."""
    if op == "conv":
        return {"x": make((n, cin, *hw), True), "w": make((cout, cin, k, k), False)}
    if op == "conv_transpose":
        return {"x": make((n, cin, *hw), True), "w": make((cin, cout, k, k), False)}
    if op == "conv_input_grad":
        params["input_hw"] = hw
        return {"dy": make((n, cout, *out), True), "w": make((cout, cin, k, k), False)}
    if op == "conv_transpose_input_grad":
        return {"dy": make((n, cout, *out), True), "w": make((cin, cout, k, k), False)}
    params["kernel_size"] = k                  # the weight gradients
    return {"x": make((n, cin, *hw), True), "dy": make((n, cout, *out), True)}


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
