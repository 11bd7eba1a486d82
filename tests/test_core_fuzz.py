"""Random layers through the core against the golden model, drawn by hypothesis up to the
configuration's edges: every op, kernels 1 to max_kernel, strides 1 and 2, any legal
padding, output maps up to the accumulator's depth, all-zero to dense inputs, masks,
biases and activations. Slow: ``make regress`` runs it (the Amaranth simulator).

Each example is bit-exact and its MAC counters equal the golden work counts; a shape the
compiler or the host check refuses must be refused with a ``ValueError`` that names a
limit, never run.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from ganforge import golden as G
from ganforge.firmware.compiler import check_program, compile_op
from ganforge.golden import OPS, reference_result

from core_harness import check_counters, golden_work, op_tensors, run_program

CORE = dict(lanes=4, weight_depth=256, out_depth=256, max_kernel=5, fifo_depth=4)
FP_OPS = OPS[:4]


@st.composite
def layers(draw, op):
    k = draw(st.integers(1, CORE["max_kernel"]))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, k - 1))
    n, cin, cout = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 9))
    hw = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    forward = op in ("conv", "conv_input_grad", "conv_weight_grad")
    try:
        out = (G.conv2d_out_hw(hw, k, stride, padding) if forward
               else G.conv_transpose2d_out_hw(hw, k, stride, padding))
    except ValueError:
        out = (0, 0)
    if min(out) < 1:
        hw, padding, out = (k, k), 0, (G.conv2d_out_hw((k, k), k, stride, 0) if forward
                                       else G.conv_transpose2d_out_hw((k, k), k, stride, 0))
    sparsity = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))

    def t(shape, sparse=True):
        a = rng.integers(-3000, 3000, size=shape)
        if sparse:
            a[rng.random(shape) < sparsity] = 0
        return a

    params = dict(stride=stride, padding=padding, shift=draw(st.integers(0, 20)),
                  activation=draw(st.sampled_from(["identity", "relu", "leaky_relu"])),
                  slope_shift=draw(st.integers(0, 5)))
    tensors = op_tensors(op, t, n=n, cin=cin, cout=cout, k=k, hw=hw, out=out, params=params)
    if op in FP_OPS:
        y, _ = reference_result(op, tensors, **params)
        params["out_mask"] = rng.random(y.shape) < draw(st.sampled_from([0.0, 0.5, 1.0]))
        params["bias"] = rng.integers(-2 ** 20, 2 ** 20, y.shape[1])
    return op, tensors, params


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_layers_through_the_core(op, data):
    _, tensors, params = data.draw(layers(op), label="layer")
    dense = data.draw(st.booleans(), label="dense")
    try:
        prog = compile_op(op, tensors, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                          out_depth=CORE["out_depth"], dense=dense, **params)
        check_program(prog, CORE, bias=params.get("bias"))
    except ValueError as exc:          # refused before it runs: the message names a limit
        assert any(w in str(exc) for w in ("exceed", "depth", "max_", "acc_width", "fit")), exc
        event("refused before it ran")
        return
    event(f"ran: {op}")
    drained, counters = run_program(prog, CORE, seed=1)
    y, m = prog.assemble(drained)
    want_y, want_m = reference_result(op, tensors, **params)
    assert np.array_equal(y, want_y) and np.array_equal(m, want_m), (op, params.keys())
    check_counters(counters, golden_work([(op, tensors, params)]), dense)
