"""OutputStage in the Amaranth simulator, bit-exact against golden.output_stage."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ganforge import golden as G
from ganforge.golden.fixed import ACTIVATIONS
from ganforge.rtl.core.output_stage import OutputStage


def _vectors(rng, n, acc_width):
    edge = [0, 1, -1, 2**(acc_width - 1) - 1, -2**(acc_width - 1), 32767, -32768, 32768, -32769,
            2**20 + 2**9, -(2**20 + 2**9), 2**10, -2**10 - 1]
    rand = rng.integers(-2**(acc_width - 2), 2**(acc_width - 2), size=n // 2)
    small = rng.integers(-2**20, 2**20, size=n - n // 2)
    return np.concatenate([edge, rand, small]).astype(np.int64)


@pytest.mark.parametrize("activation,slope", [("identity", 0), ("relu", 0), ("leaky_relu", 2),
                                              ("leaky_relu", 5)])
@pytest.mark.parametrize("shift", [0, 1, 10, 20])
def test_output_stage_matches_golden_under_backpressure(activation, slope, shift):
    acc_width, dw = 48, 16
    rng = np.random.default_rng(shift * 7 + slope)
    acc = _vectors(rng, 120, acc_width)
    want_y, want_mask = G.output_stage(acc.reshape(1, -1, 1, 1), shift, dw, activation, slope)
    want = list(zip(want_y.reshape(-1).tolist(), want_mask.reshape(-1).tolist()))

    dut = OutputStage(acc_width, dw)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    got = []

    async def source(ctx):
        ctx.set(dut.shift, shift)
        ctx.set(dut.activation, ACTIVATIONS[activation])
        ctx.set(dut.slope_shift, slope)
        for v in acc.tolist():
            while rng.random() < 0.3:                       # throttle valid
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.payload.acc, v)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        while len(got) < len(want):
            ready = int(rng.random() < 0.6)                 # throttle ready
            ctx.set(dut.o.ready, ready)
            await ctx.tick()
        ctx.set(dut.o.ready, 0)

    async def monitor(ctx):
        async for clk_edge, rst, valid, ready, value, mask in ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload.value, dut.o.payload.mask):
            if valid and ready:
                got.append((value, mask))
            if len(got) == len(want):
                break

    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.add_process(monitor)
    sim.run_until(1e-8 * 2000)
    assert got == want


def test_output_stage_refuses_bad_widths():
    with pytest.raises(ValueError, match="acc_width"):
        OutputStage(acc_width=20, data_width=16)
