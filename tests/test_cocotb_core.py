"""The generated Verilog of SparseCore under cocotb, on Icarus and Verilator, with every
stream randomly throttled: all six ops on random shapes, sparsities from 0 % to all-zero
tiles, saturating values, masks and activations; bit-exact against the golden model, and
every MAC counter equal to the golden work counts."""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.firmware.compiler import Program, compile_op
from ganforge.golden import OPS, reference_result
from ganforge.testbench import simulate_program

from core_harness import check_counters, golden_work

CORE = dict(lanes=4, weight_depth=256, out_depth=256, max_kernel=5, fifo_depth=4)
FP_OPS = OPS[:4]


def random_case(op, rng):
    """A random valid layer for ``op``: (tensors, params)."""
    while True:
        k = int(rng.integers(1, 6))
        stride = int(rng.integers(1, 3))
        padding = int(rng.integers(0, k))
        n, cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 10))
        hw = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        try:
            out = (G.conv2d_out_hw(hw, k, stride, padding)
                   if op in ("conv", "conv_input_grad", "conv_weight_grad")
                   else G.conv_transpose2d_out_hw(hw, k, stride, padding))
        except ValueError:
            continue
        if min(out) >= 1 and out[0] * out[1] <= 256 and max(out) <= 64:
            break
    sparsity = float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0]))
    big = rng.random() < 0.3

    def t(shape, sparse=True):
        lim = 32768 if big else 3000
        a = rng.integers(-lim, lim, size=shape)
        if big:
            a[rng.random(shape) < 0.2] = -32768
        if sparse:
            a[rng.random(shape) < sparsity] = 0
        return a

    params = dict(stride=stride, padding=padding, shift=int(rng.integers(0, 20)),
                  activation=str(rng.choice(["identity", "relu", "leaky_relu"])),
                  slope_shift=int(rng.integers(0, 6)))
    if op == "conv":
        tensors = {"x": t((n, cin, *hw)), "w": t((cout, cin, k, k), False)}
    elif op == "conv_transpose":
        tensors = {"x": t((n, cin, *hw)), "w": t((cin, cout, k, k), False)}
    elif op == "conv_input_grad":
        tensors = {"dy": t((n, cout, *out)), "w": t((cout, cin, k, k), False)}
        params["input_hw"] = hw
    elif op == "conv_transpose_input_grad":
        tensors = {"dy": t((n, cout, *out)), "w": t((cin, cout, k, k), False)}
    elif op == "conv_weight_grad":
        tensors = {"x": t((n, cin, *hw)), "dy": t((n, cout, *out))}
        params["kernel_size"] = k
    else:
        tensors = {"x": t((n, cin, *hw)), "dy": t((n, cout, *out))}
        params["kernel_size"] = k
    if op in FP_OPS:
        y, _ = reference_result(op, tensors, **params)
        params["out_mask"] = rng.random(y.shape) < float(rng.choice([0.0, 0.5, 0.9, 1.0]))
        params["bias"] = rng.integers(-2**20, 2**20, y.shape[1])
    return tensors, params


def run_batch(cases, sim, dense=False, seed=0):
    """Run several ops as one program (one simulator run); return (results, references)."""
    progs = [compile_op(op, tensors, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                        out_depth=CORE["out_depth"], dense=dense, **params)
             for op, tensors, params in cases]
    joined = Program("batch", [p for prog in progs for p in prog.passes], (), CORE["lanes"])
    drained, counters, cycles = simulate_program(joined, CORE, sim=sim, throttle=True, seed=seed)
    results = []
    k = 0
    for prog in progs:
        n = sum(1 for p in prog.passes if p.desc["drain"])
        results.append(prog.assemble(drained[k:k + n]))
        k += n
    refs = [reference_result(op, tensors, **params) for op, tensors, params in cases]
    return results, refs, counters


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("seed", [1, 2])
def test_core_random_ops_bit_exact(sim, seed):
    rng = np.random.default_rng(seed)
    cases = [(op, *random_case(op, rng)) for op in OPS for _ in range(2)]
    dense = seed == 2
    results, refs, counters = run_batch(cases, sim, dense=dense, seed=seed)
    for (op, tensors, params), (y, m), (wy, wm) in zip(cases, results, refs):
        assert np.array_equal(y, wy), (op, {k: v for k, v in params.items() if k not in ("out_mask", "bias")})
        assert np.array_equal(m, wm), op
    check_counters(counters, golden_work(cases), dense)
