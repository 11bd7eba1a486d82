"""OutputStage in the Amaranth simulator, bit-exact against golden.output_stage."""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.golden.fixed import ACTIVATIONS
from ganforge.rtl.core.output_stage import OutputStage

from sim_streams import put, simulate, take


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
    got = []

    async def source(ctx):
        ctx.set(dut.shift, shift)
        ctx.set(dut.activation, ACTIVATIONS[activation])
        ctx.set(dut.slope_shift, slope)
        await put(ctx, dut.i, [{"acc": v} for v in acc.tolist()], rng=rng, idle=0.3)

    async def sink(ctx):
        got.extend((p.value, p.mask) for p in await take(ctx, dut.o, len(want), rng=rng, stall=0.4))

    simulate(dut, {"source": source, "sink": sink}, budget=2000)
    assert got == want


def test_output_stage_refuses_bad_widths():
    with pytest.raises(ValueError, match="acc_width"):
        OutputStage(acc_width=20, data_width=16)
