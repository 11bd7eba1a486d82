"""ScatterLane in the Amaranth simulator: one output channel of a conv / transposed-conv
tile, bit-exact against the golden model, with throttled streams, both skips on and off."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ganforge import golden as G
from ganforge.golden.fixed import ACTIVATIONS
from ganforge.rtl.lane import ScatterLane


def lane_reference(x, w_lane, transposed, stride, padding, out_hw, bias, shift, activation,
                   slope_shift, mask):
    """Golden result for one output channel: x [C_in, H, W], w_lane [C_in, K, K]."""
    if transposed:
        acc = G.conv_transpose2d(x[None], w_lane[:, None], stride, padding)[0, 0]
    else:
        acc = G.conv2d(x[None], w_lane[None], stride, padding)[0, 0]
    assert acc.shape == tuple(out_hw)
    y, m = G.output_stage(acc[None, None], shift, 16, activation, slope_shift, np.array([bias]))
    y, m = y[0, 0], m[0, 0]
    if mask is not None:
        y, m = np.where(mask, y, 0), m & mask
    return y, m


def run_lane(x, w_lane, *, transposed, stride, padding, out_hw, bias=0, shift=0,
             activation="identity", slope_shift=2, mask=None, skip_zero=True, skip_mask=True,
             rng=None, idle=0.3, stall=0.3, order=None):
    rng = rng or np.random.default_rng(0)
    cin, h, w = x.shape
    k = w_lane.shape[-1]
    dut = ScatterLane(max_kernel=5, weight_depth=1024, out_depth=256)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    elems = [(ci, i, j, int(x[ci, i, j])) for ci in range(cin) for i in range(h) for j in range(w)]
    if skip_zero:
        elems = [e for e in elems if e[3] != 0] or [(0, 0, 0, 0)]
    if order is not None:
        elems = [elems[n] for n in order(len(elems))]
    n_out = out_hw[0] * out_hw[1]
    got = []
    counters = {}

    async def bench(ctx):
        ctx.set(dut.transposed, int(transposed))
        ctx.set(dut.drain, 1)
        ctx.set(dut.enable, 1)
        ctx.set(dut.acc_count, out_hw[0] * out_hw[1])
        ctx.set(dut.kernel, k)
        ctx.set(dut.stride, stride)
        ctx.set(dut.padding, padding)
        ctx.set(dut.out_h, out_hw[0])
        ctx.set(dut.out_w, out_hw[1])
        ctx.set(dut.skip_zero, int(skip_zero))
        ctx.set(dut.skip_mask, int(skip_mask and mask is not None))
        ctx.set(dut.mask_out, int(mask is not None))
        ctx.set(dut.bias, int(bias))
        ctx.set(dut.shift, shift)
        ctx.set(dut.activation, ACTIVATIONS[activation])
        ctx.set(dut.slope_shift, slope_shift)
        for ci in range(cin):
            for kh in range(k):
                for kw in range(k):
                    ctx.set(dut.w_in.payload.addr, ci * k * k + kh * k + kw)
                    ctx.set(dut.w_in.payload.value, int(w_lane[ci, kh, kw]))
                    ctx.set(dut.w_in.valid, 1)
                    await ctx.tick().until(dut.w_in.ready)
        ctx.set(dut.w_in.valid, 0)
        mbits = (np.ones(out_hw, bool) if mask is None else mask).reshape(-1)
        for a in range(0, len(mbits), 16):
            ctx.set(dut.mask_in.payload.addr, a // 16)
            ctx.set(dut.mask_in.payload.bits, sum(int(b) << n for n, b in enumerate(mbits[a:a + 16])))
            ctx.set(dut.mask_in.valid, 1)
            await ctx.tick().until(dut.mask_in.ready)
        ctx.set(dut.mask_in.valid, 0)
        for n, (ci, i, j, v) in enumerate(elems):
            while rng.random() < idle:
                ctx.set(dut.x_in.valid, 0)
                await ctx.tick()
            ctx.set(dut.x_in.payload.ci, ci)
            ctx.set(dut.x_in.payload.i, i)
            ctx.set(dut.x_in.payload.j, j)
            ctx.set(dut.x_in.payload.value, v)
            ctx.set(dut.x_in.payload.last, int(n == len(elems) - 1))
            ctx.set(dut.x_in.payload.valid, 1)
            ctx.set(dut.x_in.valid, 1)
            await ctx.tick().until(dut.x_in.ready)
        ctx.set(dut.x_in.valid, 0)

    async def sink(ctx):
        while len(got) < n_out:
            ready = int(rng.random() >= stall)
            ctx.set(dut.o.ready, ready)
            await ctx.tick()
        ctx.set(dut.o.ready, 0)
        await ctx.tick().repeat(3)
        for name in ("macs_issued", "input_zero_skipped", "output_mask_skipped", "cycles_busy"):
            counters[name] = ctx.get(getattr(dut, name))
        counters["busy"] = ctx.get(dut.busy)

    async def monitor(ctx):
        async for _, _, valid, ready, value, m in ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload.value, dut.o.payload.mask):
            if valid and ready:
                got.append((value, m))

    sim.add_testbench(bench)
    sim.add_testbench(sink)
    sim.add_process(monitor)
    sim.run_until(1e-8 * (200 + 40 * (len(elems) * k * k + n_out + cin * k * k)))
    assert len(got) == n_out, f"only {len(got)} of {n_out} outputs"
    y = np.array([g[0] for g in got]).reshape(out_hw)
    m = np.array([g[1] for g in got], bool).reshape(out_hw)
    return y, m, counters


CASES = [
    # transposed, stride, padding, k, cin, (h, w)
    (False, 1, 1, 3, 3, (6, 5)),
    (False, 2, 1, 4, 2, (8, 8)),
    (False, 2, 0, 3, 2, (7, 7)),
    (True, 2, 1, 4, 3, (4, 4)),
    (True, 1, 0, 4, 2, (1, 1)),
    (True, 2, 0, 3, 2, (3, 3)),
    (False, 1, 2, 5, 1, (5, 5)),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("sparsity", [0.0, 0.6])
def test_lane_matches_golden(case, sparsity):
    transposed, stride, padding, k, cin, hw = case
    rng = np.random.default_rng(hash((case, sparsity)) % 2**32)
    x = rng.integers(-3000, 3000, size=(cin, *hw))
    x[rng.random(x.shape) < sparsity] = 0
    w = rng.integers(-3000, 3000, size=(cin, k, k))
    out_hw = (G.conv_transpose2d_out_hw(hw, k, stride, padding) if transposed
              else G.conv2d_out_hw(hw, k, stride, padding))
    mask = rng.random(out_hw) < 0.5
    kw = dict(transposed=transposed, stride=stride, padding=padding, out_hw=out_hw, bias=12345,
              shift=10, activation="relu")
    want_y, want_m = lane_reference(x, w, mask=mask, slope_shift=2, **kw)
    y, m, c = run_lane(x, w, mask=mask, rng=rng, **kw)
    assert np.array_equal(y, want_y) and np.array_equal(m, want_m)
    # Dense baseline: same result with every kind of skipping off and no mask applied.
    want_y2, want_m2 = lane_reference(x, w, mask=None, slope_shift=2, **kw)
    y2, m2, c2 = run_lane(x, w, mask=None, skip_zero=False, skip_mask=False, rng=rng, **kw)
    assert np.array_equal(y2, want_y2) and np.array_equal(m2, want_m2)
    # Counters: dense MACs, and the skipped ones, against the golden work counters.
    work_fn = G.conv_transpose2d_work if transposed else G.conv2d_work
    wshape = (cin, 1, k, k) if transposed else (1, cin, k, k)
    dense = work_fn(x[None], wshape, stride, padding, out_mask=None)
    assert c2["macs_issued"] == dense["dense"]
    wk = work_fn(x[None], wshape, stride, padding, out_mask=mask[None, None])
    assert c["macs_issued"] == wk["effective"]
    assert c["output_mask_skipped"] + c["input_zero_skipped"] <= dense["dense"]


def test_lane_saturates_and_leaky():
    rng = np.random.default_rng(9)
    x = rng.integers(-32768, 32768, size=(4, 5, 5))
    w = rng.integers(-32768, 32768, size=(4, 3, 3))
    kw = dict(transposed=False, stride=1, padding=1, out_hw=(5, 5), bias=-(2**20), shift=4,
              activation="leaky_relu", slope_shift=3)
    want_y, want_m = lane_reference(x, w, mask=None, **kw)
    y, m, _ = run_lane(x, w, rng=rng, **kw)
    assert np.array_equal(y, want_y) and np.array_equal(m, want_m)
    assert (want_y == 32767).any() and (want_y == -4096).any()   # both saturations hit


def test_lane_back_to_back_same_output():
    """Elements hitting the same accumulator on consecutive cycles (read-after-write)."""
    x = np.zeros((8, 1, 1), dtype=np.int64)
    x[:, 0, 0] = np.arange(1, 9) * 1000
    w = np.arange(1, 9).reshape(8, 1, 1) * 7
    kw = dict(transposed=False, stride=1, padding=0, out_hw=(1, 1), bias=3, shift=0,
              activation="identity", slope_shift=0)
    want_y, _ = lane_reference(x, w, mask=None, **kw)
    y, _, c = run_lane(x, w, idle=0.0, stall=0.0, **kw)
    assert np.array_equal(y, want_y) and c["macs_issued"] == 8
