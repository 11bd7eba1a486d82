"""Golden model, EORS (golden/eors.py): exponent-only ReLU speculation, exact."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ganforge.golden import (EorsKnobs, conv2d, conv_transpose2d, eors_apply, eors_counts,
                             eors_estimate, eors_fp, eors_operand, eors_predict, eors_rates,
                             output_stage)


def ref_operand(v, mb):
    """sign(v) * (|v| with every bit below (leading-one position − mb) cleared), Python ints."""
    v = int(v)
    mag = abs(v)
    if mag == 0:
        return 0
    e = mag.bit_length() - 1
    drop = max(e - mb, 0)
    kept = (mag >> drop) << drop
    return kept if v > 0 else -kept


# --------------------------------------------------------------------------- eors_operand

@pytest.mark.parametrize("v, mb, expected", [
    (11, 0, 8),           # 0b1011: leading one at bit 3
    (11, 1, 8),           # bits 3..2 = 0b10 -> 0b1000
    (11, 2, 10),          # bits 3..1 = 0b101 -> 0b1010
    (11, 3, 11),          # all four bits
    (-11, 0, -8),
    (-11, 2, -10),
    (0, 0, 0),
    (0, 3, 0),
    (1, 0, 1),
    (-1, 0, -1),
    (2, 0, 2),
    (3, 0, 2),
    (3, 1, 3),
    (7, 1, 6),
    (-7, 1, -6),
    (32767, 0, 16384),
    (32767, 3, 0b111_1000_0000_0000),         # bits 14..11 kept: 16384+8192+4096+2048 = 30720
    (-32768, 0, -32768),
    (-32767, 0, -16384),
    (0b1001_0110_1100_0011, 3, 0b1001_0000_0000_0000),
    (0b1001_0110_1100_0011, 15, 0b1001_0110_1100_0011),
    (5, 15, 5),           # "bits below position 0 are kept": small values are exact
])
def test_eors_operand_hand_picked(v, mb, expected):
    assert ref_operand(v, mb) == expected
    got = eors_operand(np.array([v]), mb)
    assert got.dtype == np.int64
    assert int(got[0]) == expected


def test_eors_operand_properties():
    v = np.arange(-40000, 40001)
    for mb in range(4):
        t = eors_operand(v, mb)
        np.testing.assert_array_equal(np.sign(t), np.sign(v))           # sign kept, zero stays zero
        assert np.all(np.abs(t) <= np.abs(v))                           # truncation towards zero
        nz = v != 0
        e = np.floor(np.log2(np.abs(v[nz]))).astype(np.int64)
        # relative error below 2**-mb: |v| - |ṽ| < 2**(e - mb)
        assert np.all(np.abs(v[nz]) - np.abs(t[nz]) < 2.0 ** (e - mb))
        # at most 1 + mb significant bits
        mag = np.abs(t[nz])
        low = mag & -mag                                                 # lowest set bit
        assert np.all(mag // low < 2 ** (mb + 1))
        assert np.array_equal(eors_operand(t, mb), t)                    # idempotent
    # mantissa_bits = 0: every operand magnitude is a power of two (products are shifts)
    t0 = np.abs(eors_operand(v, 0))
    t0 = t0[t0 != 0]
    assert np.all((t0 & (t0 - 1)) == 0)
    # 16-bit values are exact with 15 mantissa bits
    np.testing.assert_array_equal(eors_operand(np.arange(-32768, 32768), 15), np.arange(-32768, 32768))


@settings(max_examples=300, deadline=None)
@given(v=st.integers(-(1 << 52), 1 << 52), mb=st.integers(0, 15))
def test_eors_operand_matches_python_int(v, mb):
    assert int(eors_operand(np.array([v]), mb)[0]) == ref_operand(v, mb)


def test_eors_operand_errors():
    with pytest.raises(ValueError):
        eors_operand(np.array([1]), 16)
    with pytest.raises(ValueError):
        eors_operand(np.array([1]), -1)
    with pytest.raises(TypeError):
        eors_operand(np.array([1.5]), 0)


# --------------------------------------------------------------------------- estimate / predict

def _case(rng, n=2, cin=3, cout=4, h=6, k=3, lim=32767):
    x = rng.integers(-lim, lim + 1, size=(n, cin, h, h))
    x[rng.random(x.shape) < 0.3] = 0
    w = rng.integers(-lim, lim + 1, size=(cout, cin, k, k))
    b = rng.integers(-(1 << 20), 1 << 20, size=cout)
    return x, w, b


def test_estimate_full_mantissa_is_exact_conv():
    rng = np.random.default_rng(0)
    x, w, b = _case(rng)
    for s, p in ((1, 0), (1, 1), (2, 1)):
        est = eors_estimate(x, w, b, s, p, mantissa_bits=15)
        assert est.dtype == np.int64
        np.testing.assert_array_equal(est, conv2d(x, w, s, p) + b[None, :, None, None])
        np.testing.assert_array_equal(eors_estimate(x, w, None, s, p, mantissa_bits=15), conv2d(x, w, s, p))


def test_estimate_is_conv_of_reduced_operands():
    rng = np.random.default_rng(1)
    x, w, b = _case(rng)
    for mb in range(4):
        est = eors_estimate(x, w, b, 2, 1, mantissa_bits=mb)
        xt = np.vectorize(lambda v: ref_operand(v, mb))(x).astype(np.int64)
        wt = np.vectorize(lambda v: ref_operand(v, mb))(w).astype(np.int64)
        np.testing.assert_array_equal(est, conv2d(xt, wt, 2, 1) + b[None, :, None, None])


def test_estimate_hand_computed():
    x = np.array([[[[11, -3], [0, 6]]]])              # 1x1x2x2
    w = np.array([[[[5, 7], [100, -9]]]])              # one 2x2 kernel -> one output
    # mb=0: 8*4 + (-2)*4 + 0 + 4*(-8) = 32 - 8 - 32 = -8
    assert int(eors_estimate(x, w, mantissa_bits=0)[0, 0, 0, 0]) == -8
    # mb=1: 8*4 + (-3)*6 + 0 + 6*(-8) = 32 - 18 - 48 = -34
    assert int(eors_estimate(x, w, mantissa_bits=1)[0, 0, 0, 0]) == -34
    # exact: 55 - 21 + 0 - 54 = -20
    assert int(eors_estimate(x, w, mantissa_bits=15)[0, 0, 0, 0]) == -20
    assert int(eors_estimate(x, w, np.array([25]), mantissa_bits=0)[0, 0, 0, 0]) == 17


def test_predict_with_margin():
    x = np.array([[[[11, -3], [0, 6]]]])
    w = np.array([[[[5, 7], [100, -9]]]])              # mb=0 estimate: -8
    assert bool(eors_predict(x, w, mantissa_bits=0)[0, 0, 0, 0])
    assert bool(eors_predict(x, w, mantissa_bits=0, margin=8)[0, 0, 0, 0])       # -8 <= -8
    assert not bool(eors_predict(x, w, mantissa_bits=0, margin=9)[0, 0, 0, 0])   # -8 > -9
    # estimate exactly 0 is predicted zero (≤ 0), a positive estimate is not
    assert bool(eors_predict(x, w, np.array([8]), mantissa_bits=0)[0, 0, 0, 0])
    assert not bool(eors_predict(x, w, np.array([9]), mantissa_bits=0)[0, 0, 0, 0])
    with pytest.raises(ValueError):
        eors_predict(x, w, margin=-1)
    rng = np.random.default_rng(2)
    x, w, b = _case(rng)
    for mb in range(4):
        est = eors_estimate(x, w, b, 1, 1, mantissa_bits=mb)
        for margin in (0, 1000, 1 << 24):
            pred = eors_predict(x, w, b, 1, 1, mantissa_bits=mb, margin=margin)
            assert pred.dtype == np.bool_ and pred.shape == est.shape
            np.testing.assert_array_equal(pred, est <= -margin)
        # a larger margin never predicts more zeros
        assert np.all(eors_predict(x, w, b, 1, 1, mantissa_bits=mb, margin=1 << 24)
                      <= eors_predict(x, w, b, 1, 1, mantissa_bits=mb, margin=0))


def test_conv_transpose_op():
    rng = np.random.default_rng(3)
    x = rng.integers(-32767, 32768, size=(1, 3, 4, 4))
    w = rng.integers(-32767, 32768, size=(3, 2, 4, 4))           # [C_in, C_out, K, K]
    b = np.array([1000, -1000])
    est = eors_estimate(x, w, b, 2, 1, op="conv_transpose", output_padding=1, mantissa_bits=15)
    np.testing.assert_array_equal(est, conv_transpose2d(x, w, 2, 1, 1) + b[None, :, None, None])
    assert est.shape == (1, 2, 9, 9)
    est0 = eors_estimate(x, w, b, 2, 1, op="conv_transpose", mantissa_bits=0)
    np.testing.assert_array_equal(
        est0, conv_transpose2d(eors_operand(x, 0), eors_operand(w, 0), 2, 1) + b[None, :, None, None])
    pred = eors_predict(x, w, b, 2, 1, op="conv_transpose", mantissa_bits=0, margin=5)
    np.testing.assert_array_equal(pred, est0 <= -5)
    with pytest.raises(ValueError):
        eors_estimate(x, w, op="deconv")
    with pytest.raises(ValueError):
        eors_estimate(x, w, np.zeros(3, np.int64), op="conv_transpose")     # bias per C_out


def test_acc_width_overflow():
    x = np.full((1, 4, 3, 3), 32767)
    w = np.full((2, 4, 3, 3), 32767)
    exact = 36 * 32767 * 32767                                   # 38_652_... < 2**36
    assert int(eors_estimate(x, w, mantissa_bits=15)[0, 0, 0, 0]) == exact
    with pytest.raises(OverflowError):
        eors_estimate(x, w, mantissa_bits=15, acc_width=16)
    with pytest.raises(OverflowError):
        eors_predict(x, w, mantissa_bits=15, acc_width=exact.bit_length())    # needs one more bit (sign)
    est = eors_estimate(x, w, mantissa_bits=15, acc_width=exact.bit_length() + 1)   # just fits
    assert int(est.max()) == exact
    # negative side: -(2**(W-1)) fits, one less does not
    xn = np.full((1, 1, 1, 1), -(1 << 15))
    wn = np.full((1, 1, 1, 1), 1 << 15)        # 2**15 is not a 16-bit code but a valid int
    assert int(eors_estimate(xn, wn, mantissa_bits=0, acc_width=31)[0, 0, 0, 0]) == -(1 << 30)
    with pytest.raises(OverflowError):
        eors_estimate(xn, wn, np.array([-1]), mantissa_bits=0, acc_width=31)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, 4), s=st.integers(1, 2),
       lim=st.sampled_from([3, 200, 32767]), op=st.sampled_from(["conv", "conv_transpose"]))
def test_full_mantissa_prediction_is_safe(seed, k, s, lim, op):
    """mantissa_bits=15, margin=0: every output predicted zero really has pre-activation ≤ 0,
    and the ReLU of it (through the real output stage) is 0."""
    rng = np.random.default_rng(seed)
    cin, cout, h = 2, 3, 5
    x = rng.integers(-lim, lim + 1, size=(1, cin, h, h))
    x[rng.random(x.shape) < 0.3] = 0
    b = rng.integers(-lim * lim, lim * lim + 1, size=cout)
    if op == "conv":
        w = rng.integers(-lim, lim + 1, size=(cout, cin, k, k))
        acc = conv2d(x, w, s, 0) + b[None, :, None, None]
    else:
        w = rng.integers(-lim, lim + 1, size=(cin, cout, k, k))
        acc = conv_transpose2d(x, w, s, 0) + b[None, :, None, None]
    pred = eors_predict(x, w, b, s, 0, op=op, mantissa_bits=15, margin=0)
    assert np.all(acc[pred] <= 0)
    np.testing.assert_array_equal(pred, acc <= 0)               # and it is exact, not just safe
    y, _ = output_stage(acc, 4, 16, "relu")
    assert np.all(y[pred] == 0)


# --------------------------------------------------------------------------- EORS applied to FP

def _layer(seed, k, s, lim, op, cin=2, cout=3, h=5, zero=0.3):
    """Random operands of a small ReLU layer and its exact accumulator (bias included)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-lim, lim + 1, size=(2, cin, h, h))
    x[rng.random(x.shape) < zero] = 0
    b = rng.integers(-lim * lim, lim * lim + 1, size=cout)
    if op == "conv":
        w = rng.integers(-lim, lim + 1, size=(cout, cin, k, k))
        acc = conv2d(x, w, s, 0)
    else:
        w = rng.integers(-lim, lim + 1, size=(cin, cout, k, k))
        acc = conv_transpose2d(x, w, s, 0)
    return x, w, b, acc


def test_eors_apply_hand_computed():
    y = np.array([5, 0, 7, 0, 3])
    mask = y > 0
    pred = np.array([True, True, False, False, False])
    ya, ma = eors_apply(y, mask, pred)
    np.testing.assert_array_equal(ya, [0, 0, 7, 0, 3])
    np.testing.assert_array_equal(ma, [False, False, True, False, True])
    with pytest.raises(ValueError):
        eors_apply(y, mask, pred[:4])


def test_eors_counts_and_rates_hand_computed():
    pred = np.array([True, True, False, False, True, False, False, False])
    mask = np.array([True, False, False, True, False, True, True, True])
    c = eors_counts(pred, mask)
    assert c == {"outputs": 8, "true_zero": 3, "predicted_zero": 3, "false_zero": 1,
                 "missed_zero": 1, "caught_zero": 2}
    r = eors_rates(pred, mask)
    assert r["true_zero_rate"] == 3 / 8 and r["predicted_zero_rate"] == 3 / 8
    assert r["false_zero_rate"] == 1 / 8 and r["missed_zero_rate"] == 1 / 8
    assert r["false_zero_of_predicted"] == 1 / 3 and r["false_zero_of_positive"] == 1 / 5
    assert r["caught_zero_fraction"] == 2 / 3 and r["missed_zero_of_true_zero"] == 1 / 3
    assert eors_rates(counts=c) == r
    # a layer with no zeros and nothing predicted: the conditional rates have no denominator
    r = eors_rates(np.zeros(4, bool), np.ones(4, bool))
    assert r["false_zero_rate"] == 0.0 and r["caught_zero_fraction"] is None
    assert r["false_zero_of_predicted"] is None
    with pytest.raises(ValueError):
        eors_counts(pred, mask[:4])


def test_eors_knobs():
    k = EorsKnobs(mantissa_bits=1, margin_lsb=3)
    assert k.margin(0) == 3 and k.margin(17) == 3 << 17
    assert EorsKnobs().margin(20) == 0
    with pytest.raises(ValueError):
        EorsKnobs(mantissa_bits=16)
    with pytest.raises(ValueError):
        EorsKnobs(margin_lsb=-1)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, 4), s=st.integers(1, 2),
       lim=st.sampled_from([3, 200, 32767]), op=st.sampled_from(["conv", "conv_transpose"]),
       mb=st.integers(0, 3), margin=st.sampled_from([0, 1, 100, 1 << 16, 1 << 26]),
       shift=st.integers(0, 20))
def test_eors_fp_is_exact_where_computed(seed, k, s, lim, op, mb, margin, shift):
    """eors_fp = the exact output stage where not predicted, 0 / mask 0 where predicted; the
    prediction is exactly the estimate rule; the counts match a brute-force count."""
    x, w, b, acc = _layer(seed, k, s, lim, op)
    y, mask, pred = eors_fp(x, w, b, s, 0, shift, op=op, mantissa_bits=mb, margin=margin)
    y0, mask0 = output_stage(acc, shift, 16, "relu", bias=b)
    est = eors_estimate(x, w, b, s, 0, op=op, mantissa_bits=mb)
    np.testing.assert_array_equal(pred, est <= -margin)
    np.testing.assert_array_equal(y[~pred], y0[~pred])
    np.testing.assert_array_equal(mask[~pred], mask0[~pred])
    assert not np.any(y[pred]) and not np.any(mask[pred])
    np.testing.assert_array_equal(mask, y > 0)                   # still the ReLU mask of y
    c = eors_counts(pred, mask0)
    flat = list(zip(pred.ravel().tolist(), mask0.ravel().tolist()))
    assert c["false_zero"] == sum(1 for p, m in flat if p and m)
    assert c["missed_zero"] == sum(1 for p, m in flat if not p and not m)
    assert c["caught_zero"] == sum(1 for p, m in flat if p and not m)
    assert c["true_zero"] == sum(1 for _, m in flat if not m)
    assert c["predicted_zero"] == c["caught_zero"] + c["false_zero"]
    assert c["true_zero"] == c["caught_zero"] + c["missed_zero"]
    # the outputs EORS changes are exactly the false zeros
    assert int(np.sum(y != y0)) == c["false_zero"]
    r = eors_rates(counts=c)
    assert r["predicted_zero_rate"] == pytest.approx(
        r["true_zero_rate"] - r["missed_zero_rate"] + r["false_zero_rate"])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, 4), s=st.integers(1, 2),
       lim=st.sampled_from([3, 200, 32767]), op=st.sampled_from(["conv", "conv_transpose"]),
       mb=st.integers(0, 3), shift=st.integers(0, 20))
def test_huge_margin_predicts_nothing(seed, k, s, lim, op, mb, shift):
    """A margin above any possible |estimate| skips nothing: EORS FP is the exact FP."""
    x, w, b, acc = _layer(seed, k, s, lim, op)
    bound = int(np.abs(eors_operand(x, mb)).sum()) * int(np.abs(eors_operand(w, mb)).max()) \
        + int(np.abs(b).max())
    y, mask, pred = eors_fp(x, w, b, s, 0, shift, op=op, mantissa_bits=mb, margin=bound + 1)
    y0, mask0 = output_stage(acc, shift, 16, "relu", bias=b)
    assert not pred.any()
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(mask, mask0)
    assert eors_rates(pred, mask0)["predicted_zero_rate"] == 0.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, 4), s=st.integers(1, 2),
       lim=st.sampled_from([3, 200, 32767]), op=st.sampled_from(["conv", "conv_transpose"]),
       shift=st.integers(1, 20))
def test_full_mantissa_misses_only_rounded_zeros(seed, k, s, lim, op, shift):
    """mantissa_bits=15, margin=0 predicts acc+bias ≤ 0 exactly: no false zero, and the only
    missed zeros are positive accumulators that requantise to 0."""
    x, w, b, acc = _layer(seed, k, s, lim, op)
    full = acc + b[None, :, None, None]
    y, mask, pred = eors_fp(x, w, b, s, 0, shift, op=op, mantissa_bits=15, margin=0)
    y0, mask0 = output_stage(acc, shift, 16, "relu", bias=b)
    c = eors_counts(pred, mask0)
    assert c["false_zero"] == 0
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(~pred & ~mask0, (full > 0) & ~mask0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), op=st.sampled_from(["conv", "conv_transpose"]),
       mb=st.integers(0, 3), m1=st.integers(0, 1 << 20), m2=st.integers(0, 1 << 20))
def test_larger_margin_is_a_subset(seed, op, mb, m1, m2):
    """A larger margin predicts a subset of the zeros, so never more false zeros."""
    lo, hi = sorted((m1, m2))
    x, w, b, acc = _layer(seed, 3, 2, 32767, op)
    y0, mask0 = output_stage(acc, 12, 16, "relu", bias=b)
    p_lo = eors_predict(x, w, b, 2, 0, op=op, mantissa_bits=mb, margin=lo)
    p_hi = eors_predict(x, w, b, 2, 0, op=op, mantissa_bits=mb, margin=hi)
    assert np.all(p_hi <= p_lo)
    assert eors_counts(p_hi, mask0)["false_zero"] <= eors_counts(p_lo, mask0)["false_zero"]


def test_eors_fp_refuses_bad_op_and_overflow():
    x, w, b, _ = _layer(0, 3, 1, 32767, "conv")
    with pytest.raises(ValueError):
        eors_fp(x, w, b, 1, 0, 4, op="deconv")
    with pytest.raises(OverflowError):
        eors_fp(x, w, b, 1, 0, 4, mantissa_bits=15, acc_width=20)
