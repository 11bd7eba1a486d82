"""SparseCore in the Amaranth simulator: every op, bit-exact against the golden model."""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.firmware.core_driver import compile_op, reference_result
from ganforge.rtl.descriptor import Error, Op

from core_harness import run_program

CORE = dict(lanes=4, weight_depth=256, out_depth=256, max_kernel=5, fifo_depth=4)


def _case(op, rng, n=2, cin=3, cout=5, hw=(5, 5), k=3, stride=1, padding=1, sparsity=0.5):
    def sparse(shape, lo=-2000, hi=2000):
        a = rng.integers(lo, hi, size=shape)
        a[rng.random(shape) < sparsity] = 0
        return a
    kw = dict(stride=stride, padding=padding)
    if op == "conv":
        x, w = sparse((n, cin, *hw)), rng.integers(-2000, 2000, (cout, cin, k, k))
        out = G.conv2d(x, w, stride, padding).shape
        return {"x": x, "w": w}, kw, out
    if op == "conv_transpose":
        x, w = sparse((n, cin, *hw)), rng.integers(-2000, 2000, (cin, cout, k, k))
        out = G.conv_transpose2d(x, w, stride, padding).shape
        return {"x": x, "w": w}, kw, out
    if op == "conv_input_grad":
        w = rng.integers(-2000, 2000, (cout, cin, k, k))
        ho = G.conv2d_out_hw(hw, k, stride, padding)
        dy = sparse((n, cout, *ho))
        return {"dy": dy, "w": w}, dict(kw, input_hw=hw), (n, cin, *hw)
    if op == "conv_transpose_input_grad":
        w = rng.integers(-2000, 2000, (cin, cout, k, k))
        ho = G.conv_transpose2d_out_hw(hw, k, stride, padding)
        dy = sparse((n, cout, *ho))
        return {"dy": dy, "w": w}, kw, (n, cin, *hw)
    if op == "conv_weight_grad":
        x = sparse((n, cin, *hw))
        dy = sparse((n, cout, *G.conv2d_out_hw(hw, k, stride, padding)))
        return {"x": x, "dy": dy}, dict(kw, kernel_size=k), (cout, cin, k, k)
    x = sparse((n, cin, *hw))
    dy = sparse((n, cout, *G.conv_transpose2d_out_hw(hw, k, stride, padding)))
    return {"x": x, "dy": dy}, dict(kw, kernel_size=k), (cin, cout, k, k)


OPS = ["conv", "conv_transpose", "conv_input_grad", "conv_transpose_input_grad",
       "conv_weight_grad", "conv_transpose_weight_grad"]


@pytest.mark.parametrize("op,geom,dense", [("conv", (3, 1, 1), False),
                                           ("conv_transpose_weight_grad", (4, 2, 1), True)])
def test_core_op_bit_exact(op, geom, dense):
    """Two ops in the Amaranth simulator (tests/test_cocotb_core.py covers all of them on
    the generated Verilog; this keeps the Python-level simulation honest)."""
    k, stride, padding = geom
    rng = np.random.default_rng(abs(hash((op, geom, dense))) % 2**32)
    tensors, kw, out_shape = _case(op, rng, k=k, stride=stride, padding=padding)
    params = dict(kw, shift=6, activation="relu")
    mask = None
    if op in ("conv", "conv_transpose", "conv_input_grad", "conv_transpose_input_grad"):
        mask = rng.random(out_shape) < 0.5
        cout = out_shape[1]
        params["bias"] = rng.integers(-5000, 5000, cout)
    prog = compile_op(op, tensors, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                      out_depth=CORE["out_depth"], out_mask=mask, dense=dense, **params)
    drained, counters = run_program(prog, CORE, seed=3)
    y, m = prog.assemble(drained)
    want_y, want_m = reference_result(op, tensors, out_mask=mask, **params)
    assert np.array_equal(y, want_y)
    assert np.array_equal(m, want_m)
    assert counters["error"] == 0


def test_core_output_channels_fewer_than_lanes_use_sample_slots():
    """C_out = 1 with 4 lanes: the driver puts 4 samples side by side (slots = 2)."""
    rng = np.random.default_rng(7)
    tensors, kw, _ = _case("conv_transpose", rng, n=4, cin=3, cout=1, k=4, stride=2, padding=1)
    prog = compile_op("conv_transpose", tensors, lanes=4, weight_depth=256, out_depth=256,
                      shift=3, **kw)
    assert prog.passes[0].desc["slots"] == 2
    drained, _ = run_program(prog, CORE, seed=1)
    y, _ = prog.assemble(drained)
    want_y, _ = reference_result("conv_transpose", tensors, shift=3, **kw)
    assert np.array_equal(y, want_y)


def test_core_splits_input_channels_over_passes():
    """C_in·K² above the weight memory: partial sums stay in the accumulators (drain = 0)."""
    rng = np.random.default_rng(8)
    tensors, kw, _ = _case("conv", rng, n=1, cin=9, cout=2, k=3)
    prog = compile_op("conv", tensors, lanes=4, weight_depth=32, out_depth=64, shift=2, **kw)
    assert sum(1 for p in prog.passes if not p.desc["drain"]) >= 2
    drained, _ = run_program(prog, dict(CORE, weight_depth=32, out_depth=64), seed=2)
    y, _ = prog.assemble(drained)
    assert np.array_equal(y, reference_result("conv", tensors, shift=2, **kw)[0])


@pytest.mark.parametrize("field,value,code", [("kernel", 0, Error.KERNEL), ("kernel", 7, Error.KERNEL),
                                              ("stride", 3, Error.STRIDE), ("padding", 3, Error.PADDING),
                                              ("out_h", 60, Error.OUT_SIZE), ("activation", 3, Error.ACTIVATION),
                                              ("slots", 3, Error.SLOTS), ("shift", 50, Error.SHIFT)])
def test_core_refuses_malformed_descriptor_without_hanging(field, value, code):
    rng = np.random.default_rng(9)
    tensors, kw, _ = _case("conv", rng, n=1, cin=2, cout=2)
    prog = compile_op("conv", tensors, lanes=4, weight_depth=256, out_depth=256, **kw)
    bad = dict(prog.passes[0].desc, **{field: value})
    drained, counters = run_program(prog, CORE, seed=4, extra_descs=[bad])
    assert counters["error"] == code
    y, _ = prog.assemble(drained)                  # the good program still ran
    assert np.array_equal(y, reference_result("conv", tensors, **kw)[0])
