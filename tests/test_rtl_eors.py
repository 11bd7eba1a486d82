"""EorsUnit in the Amaranth simulator: its predictions against ganforge.golden.eors_predict.

Every case builds the unit's passes with the firmware (compile_eors), runs them with both
input streams and the output throttled at random, and compares the predicted-zero map bit
for bit; ``macs_issued`` must equal the speculation products (one per non-zero input tap).
"""

import numpy as np
import pytest
from amaranth.back import rtlil

from core_harness import run_program

from ganforge.firmware.compiler import compile_eors, eors_prediction
from ganforge.golden import work_counts
from ganforge.golden import eors_estimate, eors_predict
from ganforge.rtl.eors import EorsUnit, eors_weight_word
from ganforge.golden.eors import eors_operand

UNIT = dict(lanes=4, data_width=16, max_kernel=5, max_stride=2, weight_depth=128,
            out_depth=64, fifo_depth=8)


def _case(rng, op, n, cin, cout, hw, k, s, p, mb, sparsity=0.5, scale=2000):
    x = rng.integers(-scale, scale + 1, (n, cin, hw, hw))
    x[rng.random(x.shape) < sparsity] = 0
    wshape = (cout, cin, k, k) if op == "conv" else (cin, cout, k, k)
    w = rng.integers(-scale, scale + 1, wshape)
    bias = rng.integers(-scale * 50, scale * 50 + 1, cout)
    return x, w, bias


def _run_unit(op, x, w, bias, s, p, mb, margin, acc_width=40, seed=0, idle=0.25, stall=0.25):
    kw = dict(UNIT, acc_width=acc_width, mantissa_bits=mb)
    prog = compile_eors(op, {"x": x, "w": w}, lanes=kw["lanes"], weight_depth=kw["weight_depth"],
                        out_depth=kw["out_depth"], mantissa_bits=mb, margin=margin,
                        acc_width=acc_width, stride=s, padding=p, bias=bias)
    drained, counters = run_program(prog, kw, seed=seed, idle=idle, stall=stall,
                                    component=EorsUnit)
    pred = eors_prediction(prog, drained)
    want = eors_predict(x, w, bias, s, p, op=op, mantissa_bits=mb, margin=margin,
                        acc_width=acc_width)
    assert counters["error"] == 0
    np.testing.assert_array_equal(pred, want)
    assert counters["macs_issued"] == work_counts(op, {"x": x, "w": w}, stride=s,
                                                  padding=p)["effective_macs"]
    return pred


def test_weight_word_is_the_golden_reduction():
    for mb in range(5):
        for v in list(range(-70, 71)) + [-32768, 32767, 12345, -12345]:
            word = eors_weight_word(v, mb) & 0xFFFF
            sign, sh, mant = word & 1, (word >> 1) & 15, word >> 5
            assert (-1 if sign else 1) * (mant << sh) == int(eors_operand(np.array([v]), mb)[0])
            assert mant < 1 << (mb + 1)


@pytest.mark.parametrize("op,s,p,k,mb,seed", [
    ("conv", 1, 1, 3, 0, 0), ("conv", 2, 1, 4, 2, 1),
    ("conv_transpose", 2, 1, 4, 1, 2), ("conv_transpose", 1, 0, 3, 3, 3),
])
def test_unit_matches_eors_predict(op, s, p, k, mb, seed):
    rng = np.random.default_rng(seed)
    hw = 4 if op == "conv_transpose" else 6
    x, w, bias = _case(rng, op, 2, 3, 5, hw, k, s, p, mb)
    est = eors_estimate(x, w, bias, s, p, op=op, mantissa_bits=mb)
    margin = int(np.median(np.abs(est)))          # a margin that flips a good share of outputs
    pred = _run_unit(op, x, w, bias, s, p, mb, margin, seed=seed)
    assert 0 < pred.sum() < pred.size


def test_all_zero_tiles_and_margin_zero():
    """No non-zero input: the estimate is the bias alone, ≤ 0 predicted at margin 0."""
    rng = np.random.default_rng(5)
    x = np.zeros((2, 2, 5, 5), dtype=np.int64)
    w = rng.integers(-100, 100, (4, 2, 3, 3))
    bias = np.array([-3, 0, 7, 0])
    pred = _run_unit("conv", x, w, bias, 1, 1, 0, 0)
    assert pred[:, [0, 1, 3]].all() and not pred[:, 2].any()


def test_saturating_values_and_narrow_accumulator():
    """Extreme operands (-32768, 32767): products near 2**30, the unit's accumulator the
    narrowest that holds the final estimates; still exact."""
    rng = np.random.default_rng(6)
    x = rng.choice([-32768, 32767, 0, 1, -1], (1, 4, 4, 4))
    w = rng.choice([-32768, 32767, 16384, -1], (3, 4, 3, 3))
    bias = np.array([2 ** 32, -(2 ** 32), 0])
    for mb in (0, 4):
        est = eors_estimate(x, w, bias, 1, 1, mantissa_bits=mb)
        aw = max(int(est.max()).bit_length(), int(-est.min() - 1).bit_length()) + 1
        assert aw >= 31                               # the unit's narrowest accumulator
        _run_unit("conv", x, w, bias, 1, 1, mb, 2 ** 20, acc_width=aw, seed=mb)


@pytest.mark.parametrize("kwargs,name", [
    ({"mantissa_bits": 5}, "mantissa_bits"), ({"mantissa_bits": -1}, "mantissa_bits"),
    ({"acc_width": 30}, "acc_width"), ({"acc_width": 64}, "acc_width"),
    ({"mantissa_bits": 4, "data_width": 8}, "mantissa_bits"),
])
def test_invalid_knobs_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        EorsUnit(**dict(UNIT, **kwargs))


def test_no_multiplier_in_the_product_path():
    """The unit's RTLIL has multipliers only in address/geometry arithmetic: the same core
    has exactly ``lanes`` more (its products)."""
    def muls(c):
        return rtlil.convert(c).count("cell $mul ")
    from ganforge.rtl.core import SparseCore
    core_kw = {k: v for k, v in UNIT.items()}
    unit = muls(EorsUnit(**UNIT, acc_width=40, mantissa_bits=2))
    core = muls(SparseCore(**core_kw, acc_width=41))
    assert core - unit == UNIT["lanes"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_unit_random_sweep(seed):
    rng = np.random.default_rng(100 + seed)
    op = ["conv", "conv_transpose"][seed % 2]
    k = int(rng.integers(1, 6))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, k))
    mb = int(rng.integers(0, 5))
    hw = int(rng.integers(2, 5))
    if op == "conv" and (hw + 2 * p - k) < 0:
        hw = k
    x, w, bias = _case(rng, op, 2, int(rng.integers(1, 5)), int(rng.integers(1, 7)), hw, k, s, p, mb,
                       sparsity=float(rng.random()))
    est = eors_estimate(x, w, bias, s, p, op=op, mantissa_bits=mb)
    margin = int(rng.choice([0, int(np.median(np.abs(est)))]))
    _run_unit(op, x, w, bias, s, p, mb, margin, seed=seed)
