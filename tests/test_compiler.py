"""The firmware's compiler without a simulator: the op table's geometry against the golden
functions, the compiled program's shape and element count, lane balancing, the pipeline's
tile, and the errors of every entry point."""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.firmware.compiler import (balanced_channel_order, compile_eors, compile_op,
                                        lane_weights, pipeline_tile)

CORE = dict(lanes=4, weight_depth=256, out_depth=256)


def _layer(op, rng, *, n=2, cin=3, cout=5, k=3, stride=2, padding=1, hw=(5, 4)):
    """Random tensors and parameters of ``op`` whose data map is ``hw``."""
    spec = G.op_spec(op)
    data = rng.integers(-9, 9, (n, cin, *hw))
    w = rng.integers(-9, 9, (cout, cin, k, k))
    if spec.kind == "wg":            # dy is the (transposed) convolution's output of x
        out_hw = (G.conv_transpose2d_out_hw if spec.transposed else G.conv2d_out_hw)(
            hw, k, stride, padding)
        dy = rng.integers(-9, 9, (n, cout, *out_hw))
        return {"x": data, "dy": dy}, dict(stride=stride, padding=padding, kernel_size=k)
    w = w.transpose(1, 0, 2, 3) if spec.transposed else w   # lane weights are [cout, cin]
    return {spec.data: data, "w": w}, dict(stride=stride, padding=padding)


@pytest.mark.parametrize("op", G.OPS)
def test_table_geometry_matches_the_golden_functions(op):
    """Per op: the table's output map is the golden result's, the program's result has the
    golden shape, the lane weights are [C_out, C_in, K, K], and a sparse program streams
    exactly the non-zero data elements (every FP/EP element once per lane group)."""
    rng = np.random.default_rng(G.OPS.index(op))
    t, p = _layer(op, rng)
    y, _ = G.reference_result(op, t, **p)
    spec = G.op_spec(op)
    prog = compile_op(op, t, **CORE, **p)
    assert prog.result_shape == y.shape
    if spec.kind != "wg":
        data = t[spec.data]
        assert spec.out_hw(data.shape[2:], 3, 2, 1) == y.shape[2:]
        assert lane_weights(op, t["w"]).shape == (y.shape[1], data.shape[1], 3, 3)
        streamed = sum(s[0] for q in prog.passes for b in q.beats for s in b["slots"])
        groups = -(-y.shape[1] // CORE["lanes"])
        assert streamed == groups * np.count_nonzero(data)


def test_input_grad_takes_the_forward_input_size():
    """The EP of a stride-2 conv on a 6x6 input: dy is 3x3, whose natural transposed output
    is 5x5; with input_hw the table, the program and the reference give 6x6."""
    rng = np.random.default_rng(4)
    t = {"dy": rng.integers(-9, 9, (1, 2, 3, 3)), "w": rng.integers(-9, 9, (2, 3, 3, 3))}
    spec = G.op_spec("conv_input_grad")
    assert spec.out_hw((3, 3), 3, 2, 1) == (5, 5)
    assert spec.out_hw((3, 3), 3, 2, 1, input_hw=(6, 6)) == (6, 6)
    prog = compile_op("conv_input_grad", t, **CORE, stride=2, padding=1, input_hw=(6, 6))
    y, _ = G.reference_result("conv_input_grad", t, stride=2, padding=1, input_hw=(6, 6))
    assert prog.result_shape == y.shape == (1, 3, 6, 6)
    counts = G.work_counts("conv_input_grad", t, stride=2, padding=1, input_hw=(6, 6))
    assert counts["dense_macs"] == G.conv_transpose2d_work(t["dy"], t["w"].shape, 2, 1, 1)["dense"]


def test_entry_points_refuse_bad_ops_with_one_line():
    t = {"x": np.ones((1, 2, 3, 3)), "w": np.ones((1, 2, 1, 1))}
    for call in (lambda: compile_op("deconv", t, **CORE), lambda: G.reference_result("deconv", t),
                 lambda: G.work_counts("deconv", t), lambda: G.op_spec(None)):
        with pytest.raises(ValueError, match=r"unknown op .*; expected one of conv, conv_transpose"):
            call()
    with pytest.raises(ValueError, match="only FP and EP ops take an output mask"):
        G.audit_counts("conv_weight_grad", t, out_mask=None)
    with pytest.raises(ValueError, match="the input has 2 channels but the weights expect 3"):
        compile_op("conv", dict(t, w=np.ones((1, 3, 1, 1))), **CORE)
    eors = dict(CORE, mantissa_bits=3, margin=0, acc_width=24)
    with pytest.raises(ValueError, match="EORS speculates FP convolutions"):
        compile_eors("conv_input_grad", {"dy": t["x"], "w": t["w"]}, **eors)
    with pytest.raises(ValueError, match="EORS speculates FP convolutions"):
        pipeline_tile("conv_weight_grad", {"x": t["x"], "dy": t["x"]}, weight_depth=256)


def test_balanced_channel_order_groups_heavy_channels():
    """Channels sorted by kept outputs, most first and stable; natural order without a mask."""
    mask = np.zeros((2, 5, 2, 2), dtype=bool)
    mask[:, 1] = True                                  # 8 kept
    mask[0, 3, 0] = True                               # 2 kept
    mask[:, 4, :, 0] = True                            # 4 kept
    assert list(balanced_channel_order(mask, 5)) == [1, 4, 3, 0, 2]
    assert list(balanced_channel_order(None, 3)) == [0, 1, 2]



def test_pipeline_tile_grows_until_the_macs_hide_the_weight_loads():
    """A 1x1 input (G1's shape) has as many MACs per channel as weight words: two samples per
    tile; a 4x4 map has 16 times more: one; the tile never exceeds the batch, and an all-zero
    input (no MACs) takes the whole batch."""
    rng = np.random.default_rng(0)
    w = rng.integers(-99, 99, (32, 64, 4, 4))
    one = {"x": rng.integers(1, 99, (16, 32, 1, 1)), "w": w}
    assert pipeline_tile("conv_transpose", one, weight_depth=2048, stride=1) == 2
    half = {"x": np.where(np.arange(32) % 4 == 0, 1, 0)[None, :, None, None].repeat(16, 0),
            "w": w}
    assert pipeline_tile("conv_transpose", half, weight_depth=2048, stride=1) == 8
    assert pipeline_tile("conv_transpose", dict(half, x=half["x"][:3]), weight_depth=2048) == 3
    big = {"x": rng.integers(1, 99, (16, 32, 4, 4)), "w": w}
    assert pipeline_tile("conv_transpose", big, weight_depth=2048, stride=2, padding=1) == 1
    zero = {"x": np.zeros((5, 32, 1, 1), dtype=np.int64), "w": w}
    assert pipeline_tile("conv_transpose", zero, weight_depth=2048) == 5
