"""Golden model, instance normalisation split the ROLIN way (golden/instnorm.py).

The statistics and dβ are exact integers and are compared exactly; the
normalised outputs are compared with the float reference under an explicit
error bound derived from the fixed-point LSBs (see ``forward_bound`` and
``backward_bound``). The float reference always runs on the *dequantized*
integer inputs, so only the hardware's own roundings are measured.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ganforge.golden import (INParams, activate, dequantize, eps_to_fixed, in_apply,
                             in_backward_apply, in_backward_params, in_backward_stats,
                             in_param_grads, in_params, in_stats, in_xhat, rsqrt_fixed)
from ganforge.golden.instnorm import (IN_COEF_WIDTH, IN_OFFSET_WIDTH, RSQRT_BITS, RSQRT_NORM_BITS,
                                      RSQRT_Q, instance_norm_float, instance_norm_float_backward)

#: Relative error of rs·2**-(Q+k) as 1/sqrt(D): rs = floor(2**Q/sqrt(m)) with rs > 2**15 gives
#: less than 2**-15, and m = D >> 2k truncates D by less than 2**-30 relative; 2**-14 covers both.
RS_REL = 2.0 ** -14


# --------------------------------------------------------------------------- rsqrt_fixed

def test_rsqrt_constants():
    assert (RSQRT_BITS, RSQRT_NORM_BITS, RSQRT_Q) == (16, 32, 31)


def _d_values():
    rng = np.random.default_rng(0)
    vals = {1, 2, 3, 4, 5, 7, 8, 2 ** 30 - 1, 2 ** 30, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1,
            2 ** 33, 2 ** 34 - 1, 2 ** 60, 2 ** 60 - 1, 2 ** 61 + 12345, 2 ** 62 - 1}
    for bits in range(1, 61):
        for _ in range(6):
            vals.add(int(rng.integers(1 << (bits - 1), 1 << bits, dtype=np.uint64)) if bits < 64 else 0)
    vals.update(i * i for i in (1, 3, 1000, 65535, 65536, 2 ** 20 + 1))   # perfect squares
    return sorted(v for v in vals if v > 0)


def test_rsqrt_fixed_exact_integer_definition():
    ds = _d_values()
    rs, ks = rsqrt_fixed(np.array(ds, dtype=object))
    assert rs.dtype == np.int64 and ks.dtype == np.int64
    for d, r, k in zip(ds, rs.tolist(), ks.tolist()):
        # k = ceil((bitlen(D) - 32) / 2), m = D / 4**k (truncated) lies in [2**30, 2**32)
        assert k == -((RSQRT_NORM_BITS - d.bit_length()) // 2)
        assert k == math.ceil((d.bit_length() - RSQRT_NORM_BITS) / 2)
        m = d >> (2 * k) if k >= 0 else d << (-2 * k)
        assert (1 << (RSQRT_NORM_BITS - 2)) <= m < (1 << RSQRT_NORM_BITS)
        # rs == floor(2**Q / sqrt(m)) <=> rs**2 * m <= 2**(2Q) < (rs + 1)**2 * m  (Python ints)
        assert r * r * m <= 1 << (2 * RSQRT_Q) < (r + 1) * (r + 1) * m
        assert r == math.isqrt((1 << (2 * RSQRT_Q)) // m)
        assert (1 << (RSQRT_BITS - 1)) <= r <= (1 << RSQRT_BITS)
        # and as a float: rs * 2**-(Q+k) ~ 1/sqrt(D)
        assert abs(math.ldexp(r, -(RSQRT_Q + k)) * math.sqrt(d) - 1.0) < RS_REL


@settings(max_examples=300, deadline=None)
@given(d=st.integers(1, 2 ** 60))
def test_rsqrt_fixed_property(d):
    rs, ks = rsqrt_fixed(d)
    r, k = int(rs), int(ks)
    m = d >> (2 * k) if k >= 0 else d << (-2 * k)
    assert (1 << 30) <= m < (1 << 32)
    assert r * r * m <= 1 << (2 * RSQRT_Q) < (r + 1) * (r + 1) * m
    assert (1 << 15) <= r <= (1 << 16)
    assert abs(math.ldexp(r, -(RSQRT_Q + k)) * math.sqrt(d) - 1.0) < RS_REL


def test_rsqrt_fixed_documented_range_top_of_m():
    """m just below 2**32 (e.g. D = 2**32 - 1): floor(2**31/sqrt(m)) is exactly 2**15,
    the bottom of the documented closed range [2**15, 2**16]."""
    rs, k = rsqrt_fixed(2 ** 32 - 1)
    assert int(k) == 0
    assert int(rs) == 1 << 15


def test_rsqrt_fixed_hand_values():
    # D = 2**30: m = 2**30, rs = 2**31 / 2**15 = 2**16 exactly, k = 0
    rs, k = rsqrt_fixed(np.array([2 ** 30]))
    assert (int(rs[0]), int(k[0])) == (1 << 16, 0)
    # D = 1: k = -15, m = 2**30, rs = 2**16; 2**16 * 2**-(31-15) = 1
    rs, k = rsqrt_fixed(1)
    assert (int(rs), int(k)) == (1 << 16, -15)
    # D = 4: 1/2
    rs, k = rsqrt_fixed(4)
    assert math.ldexp(int(rs), -(RSQRT_Q + int(k))) == 0.5
    # shape is kept
    rs, k = rsqrt_fixed(np.array([[1, 2, 3], [4, 5, 6]]))
    assert rs.shape == k.shape == (2, 3)


def test_rsqrt_fixed_rejects_non_positive():
    with pytest.raises(ValueError):
        rsqrt_fixed(0)
    with pytest.raises(ValueError):
        rsqrt_fixed(np.array([5, -1]))


def test_eps_to_fixed():
    assert eps_to_fixed(1e-5, 8) == 1                    # 0.65536 -> 1
    assert eps_to_fixed(1e-5, 12) == 168                 # 167.77216 -> 168
    assert eps_to_fixed(0.0, 8) == 1                     # at least 1
    assert eps_to_fixed(2.0 ** -10, 8) == 64
    assert eps_to_fixed(1.5 * 2.0 ** -16, 8) == 2        # tie rounds up


# --------------------------------------------------------------------------- statistics

def test_in_stats_exact():
    rng = np.random.default_rng(1)
    x = rng.integers(-32768, 32768, size=(2, 3, 7, 9))
    x[0, 0] = -32768                                      # full-scale channel
    s1, s2 = in_stats(x)
    assert s1.dtype == np.int64 and s2.dtype == np.int64 and s1.shape == s2.shape == (2, 3)
    for n, c in np.ndindex(2, 3):
        vals = [int(v) for v in x[n, c].ravel()]
        assert int(s1[n, c]) == sum(vals)
        assert int(s2[n, c]) == sum(v * v for v in vals)
    assert int(s2[0, 0]) == 63 * (1 << 30)
    with pytest.raises(ValueError):
        in_stats(x[0])
    with pytest.raises(TypeError):
        in_stats(np.full((1, 1, 2, 2), 0.5))


def test_in_backward_stats_exact():
    rng = np.random.default_rng(2)
    dy = rng.integers(-32768, 32768, size=(2, 2, 5, 5))
    xh = rng.integers(-32768, 32768, size=(2, 2, 5, 5))
    t1, t2 = in_backward_stats(dy, xh)
    for n, c in np.ndindex(2, 2):
        assert int(t1[n, c]) == sum(int(v) for v in dy[n, c].ravel())
        assert int(t2[n, c]) == sum(int(a) * int(b) for a, b in zip(dy[n, c].ravel(), xh[n, c].ravel()))
    with pytest.raises(ValueError):
        in_backward_stats(dy, xh[:, :, :4])


# --------------------------------------------------------------------------- forward

FWD = dict(frac_x=8, frac_y=8, frac_gamma=12)


def _forward_case(seed, n=2, c=3, h=5, w=6, xlim=3000, const_channel=False):
    rng = np.random.default_rng(seed)
    x = rng.integers(-xlim, xlim + 1, size=(n, c, h, w))
    x[:, :, 0, 0] += rng.integers(0, 4 * xlim, size=(n, c))   # skew each channel
    if const_channel:
        x[0, 0] = 77                                          # zero variance: eps alone
    gamma = rng.integers(-2 << 12, 2 << 12, size=c)           # |γ| < 2
    beta = rng.integers(-1 << 12, 1 << 12, size=c)            # |β| < 1
    return x, gamma, beta


def forward_bound(x, xhat_f, gamma_f, frac_y, scale_frac):
    """Per-element bound, in LSBs of y, on |y_fixed − y_float·2**frac_y|.

    * 0.5: the final round-half-up of requantize;
    * (0.5·|x| + 0.5)·2**-scale_frac: the rounding of a (±0.5, times x) and of
      b (±0.5), both in units of 2**-(frac_y + scale_frac);
    * RS_REL·|γ·x̂|·2**frac_y: the relative error of rs, which scales a and the
      γ·S1 part of b alike, so it scales γ·x̂ (not β);
    * 1e-6: float rounding in the reference.
    """
    return (0.5 + (0.5 * np.abs(x) + 0.5) * 2.0 ** -scale_frac
            + RS_REL * np.abs(gamma_f[None, :, None, None] * xhat_f) * 2.0 ** frac_y + 1e-6)


@pytest.mark.parametrize("seed, scale_frac, const", [(0, 16, False), (1, 16, True), (2, 12, False),
                                                     (3, 20, False), (4, 16, False)])
def test_forward_against_float(seed, scale_frac, const):
    x, gamma, beta = _forward_case(seed, const_channel=const)
    fx, fy, fg = FWD["frac_x"], FWD["frac_y"], FWD["frac_gamma"]
    eps_q = 3
    m = x.shape[2] * x.shape[3]
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, m, gamma, beta, eps_q=eps_q, scale_frac=scale_frac, **FWD)
    assert isinstance(p, INParams) and p.scale_frac == scale_frac
    assert p.a.shape == p.b.shape == p.rs.shape == p.k.shape == (2, 3)
    # nothing saturated in this range
    assert np.all(np.abs(p.a) < (1 << (IN_COEF_WIDTH - 1)) - 1)
    assert np.all(np.abs(p.b) < (1 << (IN_OFFSET_WIDTH - 1)) - 1)
    y, mask = in_apply(x, p)
    assert y.dtype == np.int64 and y.shape == x.shape
    np.testing.assert_array_equal(mask, y > 0)
    # float reference on the dequantized inputs, eps = eps_q * 2**(-2 frac_x) exactly
    xf, gf, bf = dequantize(x, fx), dequantize(gamma, fg), dequantize(beta, fg)
    yf, xhat_f, sigma = instance_norm_float(xf, gf, bf, eps=eps_q * 2.0 ** (-2 * fx))
    err = np.abs(y - yf * 2.0 ** fy)
    bound = forward_bound(x, xhat_f, gf, fy, scale_frac)
    assert np.all(np.abs(yf * 2.0 ** fy) < 32767)           # the reference itself is in range
    assert np.all(err <= bound), (err.max(), bound[err > bound])
    assert bound.max() < (1.0 if scale_frac >= 16 else 3.0)  # the bound is meaningful
    # the constant channel normalises to β: one value, within rounding of β·2**(frac_y − frac_gamma)
    if const:
        assert np.all(y[0, 0] == y[0, 0, 0, 0])
        assert abs(int(y[0, 0, 0, 0]) - int(beta[0]) * 2.0 ** (fy - fg)) <= 0.5 + 39 * 2.0 ** -scale_frac


def test_forward_parameter_formulas():
    """a and b are exactly the documented shift_round expressions (Python-int recomputation)."""
    x, gamma, beta = _forward_case(9)
    fx, fy, fg, sf, eps_q = 8, 8, 12, 16, 5
    m = x.shape[2] * x.shape[3]
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, m, gamma, beta, eps_q=eps_q, scale_frac=sf, **FWD)

    def sr(v, s):
        return (v + (1 << (s - 1))) // (1 << s) if s > 0 else v * (1 << -s)

    for n, c in np.ndindex(2, 3):
        d = m * int(s2[n, c]) - int(s1[n, c]) ** 2 + eps_q * m * m
        rs, k = rsqrt_fixed(d)
        rs, k = int(rs), int(k)
        assert (int(p.rs[n, c]), int(p.k[n, c])) == (rs, k)
        sh = RSQRT_Q + k + fg - fy - sf
        g = int(gamma[c])
        assert int(p.a[n, c]) == sr(g * m * rs, sh)
        assert int(p.b[n, c]) == int(beta[c]) * (1 << (fy + sf - fg)) - sr(g * int(s1[n, c]) * rs, sh)
    # apply is requantize(a*x + b, scale_frac)
    y, _ = in_apply(x, p)
    for idx in [(0, 0, 0, 0), (1, 2, 4, 5), (0, 1, 3, 2)]:
        acc = int(p.a[idx[:2]]) * int(x[idx]) + int(p.b[idx[:2]])
        assert int(y[idx]) == min(max(sr(acc, sf), -32768), 32767)


def test_forward_output_saturation():
    """|γ·x̂| beyond the 16-bit range of y (frac_y = 14): y saturates with the right sign."""
    x, gamma, beta = _forward_case(10, xlim=3000)
    gamma = np.array([8191, -8191, 8191])                    # ±2 with 12 fraction bits
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, 30, gamma, beta, frac_x=8, frac_y=14, frac_gamma=12, eps_q=1)
    assert np.all(np.abs(p.a) < (1 << (IN_COEF_WIDTH - 1)) - 1)     # a itself is not saturated
    y, _ = in_apply(x, p)
    yf, _, _ = instance_norm_float(dequantize(x, 8), dequantize(gamma, 12), dequantize(beta, 12),
                                   eps=2.0 ** -16)
    ideal = yf * 2.0 ** 14
    assert np.any(ideal > 32768) and np.any(ideal < -32769)          # the case is exercised
    np.testing.assert_array_equal(y[ideal > 32768], 32767)
    np.testing.assert_array_equal(y[ideal < -32769], -32768)


def test_forward_coefficient_overflow_is_an_error_not_a_sign_flip():
    """A scale a beyond IN_COEF_WIDTH is refused, never saturated.

    x = [1, 0, 0, 0] (M = 4), γ = 32767 (frac_gamma 0), β = 0, eps_q = 1: a
    would be far beyond 2**31. Saturating a while b (≈ −a/4) still fits would
    drive a·x + b hugely negative and flip the sign of y[0]; the golden model
    raises instead (the hardware sets an error status).
    """
    x = np.zeros((1, 1, 2, 2), dtype=np.int64)
    x[0, 0, 0, 0] = 1
    s1, s2 = in_stats(x)
    with pytest.raises(OverflowError, match="scale a"):
        in_params(s1, s2, 4, np.array([32767]), np.array([0]), frac_x=8, frac_y=8, frac_gamma=0,
                  eps_q=1, scale_frac=16)


def test_forward_activation_and_mask():
    x, gamma, beta = _forward_case(5)
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, 30, gamma, beta, eps_q=1, **FWD)
    pre, mask = in_apply(x, p)
    for act in ("relu", "leaky_relu"):
        y, mask2 = in_apply(x, p, activation=act, slope_shift=3)
        np.testing.assert_array_equal(y, activate(pre, act, 3))
        np.testing.assert_array_equal(mask2, pre > 0)
    y8, _ = in_apply(x, p, width=8)
    np.testing.assert_array_equal(y8, np.clip(pre, -128, 127))


def test_forward_deterministic_and_errors():
    x, gamma, beta = _forward_case(6)
    s1, s2 = in_stats(x)
    p1 = in_params(s1, s2, 30, gamma, beta, eps_q=2, **FWD)
    p2 = in_params(s1.copy(), s2.copy(), 30, gamma.copy(), beta.copy(), eps_q=2, **FWD)
    for f in INParams._fields[:4]:
        np.testing.assert_array_equal(getattr(p1, f), getattr(p2, f))
    np.testing.assert_array_equal(in_apply(x, p1)[0], in_apply(x, p2)[0])
    with pytest.raises(ValueError):
        in_params(s1, s2, 30, gamma[:2], beta, eps_q=2, **FWD)
    with pytest.raises(ValueError):
        in_params(s1, s2, 30, gamma, np.append(beta, 0), eps_q=2, **FWD)
    with pytest.raises(ValueError):
        in_params(s1, s2, 30, gamma.reshape(1, 3), beta, eps_q=2, **FWD)
    with pytest.raises(ValueError):
        in_params(s1, s2, 0, gamma, beta, eps_q=2, **FWD)
    with pytest.raises(ValueError):
        in_params(s1, s2, 30, gamma, beta, eps_q=0, **FWD)
    with pytest.raises(ValueError):     # frac_y + scale_frac < frac_gamma
        in_params(s1, s2, 30, gamma, beta, frac_x=8, frac_y=2, frac_gamma=12, eps_q=1, scale_frac=4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), h=st.integers(1, 8), w=st.integers(2, 8),
       xlim=st.sampled_from([1, 10, 300, 3000]), scale_frac=st.integers(12, 20))
def test_forward_property(seed, h, w, xlim, scale_frac):
    x, gamma, beta = _forward_case(seed, n=1, c=2, h=h, w=w, xlim=xlim)
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, h * w, gamma, beta, eps_q=1, scale_frac=scale_frac, **FWD)
    y, _ = in_apply(x, p)
    yf, xhat_f, _ = instance_norm_float(dequantize(x, 8), dequantize(gamma, 12), dequantize(beta, 12),
                                        eps=2.0 ** -16)
    assert np.all(np.abs(y - yf * 256) <= forward_bound(x, xhat_f, dequantize(gamma, 12), 8, scale_frac))


# --------------------------------------------------------------------------- backward

BWD = dict(frac_x=8, frac_dy=10, frac_dx=10, frac_gamma=12, frac_xhat=12)


def backward_bound(dy, xhat_q, dx_ref_units, coef_frac):
    """Per-element bound, in LSBs of dx, on |dx_fixed − dx_float·2**frac_dx|.

    The float reference uses the same quantized x̂ and dy, so T1 and T2 match
    exactly. Then:
    * 0.5: the final round-half-up;
    * 0.5·(|dy| + |x̂| + 1)·2**-coef_frac: the roundings of c1 (times dy), c2
      (times x̂) and c3;
    * RS_REL·|dx|: rs enters c1, c2 and c3 as the same factor, so its relative
      error scales the whole exact result;
    * 1e-6: float rounding in the reference.
    """
    return (0.5 + 0.5 * (np.abs(dy) + np.abs(xhat_q) + 1) * 2.0 ** -coef_frac
            + RS_REL * np.abs(dx_ref_units) + 1e-6)


def _backward(seed, coef_frac=16, n=2, c=3, h=5, w=6, dylim=1024):
    x, gamma, beta = _forward_case(seed, n=n, c=c, h=h, w=w)
    m = h * w
    eps_q = 3
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, m, gamma, beta, eps_q=eps_q, **FWD)
    rng = np.random.default_rng(seed + 1000)
    dy = rng.integers(-dylim, dylim + 1, size=x.shape)
    xh = in_xhat(x, s1, m, p.rs, p.k, BWD["frac_xhat"])
    t1, t2 = in_backward_stats(dy, xh)
    co = in_backward_params(t1, t2, m, gamma, p.rs, p.k, coef_frac=coef_frac, **BWD)
    dx = in_backward_apply(dy, xh, co)
    return x, gamma, eps_q, dy, xh, t1, t2, co, dx


def test_xhat_against_float():
    x, gamma, beta = _forward_case(7)
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, 30, gamma, beta, eps_q=3, **FWD)
    for fxh in (8, 12):
        xh = in_xhat(x, s1, 30, p.rs, p.k, fxh)
        assert xh.dtype == np.int64 and xh.shape == x.shape
        _, xhat_f, _ = instance_norm_float(dequantize(x, 8), dequantize(gamma, 12), dequantize(beta, 12),
                                           eps=3 * 2.0 ** -16)
        # bound: the round-half-up (0.5 LSB) plus the rs relative error on x̂ itself
        bound = 0.5 + RS_REL * np.abs(xhat_f) * 2.0 ** fxh + 1e-6
        assert np.all(np.abs(xh - xhat_f * 2.0 ** fxh) <= bound)
    # saturation to the width
    xh8 = in_xhat(x, s1, 30, p.rs, p.k, 12, width=8)
    np.testing.assert_array_equal(xh8, np.clip(in_xhat(x, s1, 30, p.rs, p.k, 12), -128, 127))


@pytest.mark.parametrize("seed, coef_frac", [(0, 16), (1, 16), (2, 12), (3, 20)])
def test_backward_against_float(seed, coef_frac):
    x, gamma, eps_q, dy, xh, t1, t2, co, dx = _backward(seed, coef_frac)
    assert dx.dtype == np.int64 and dx.shape == x.shape and co.coef_frac == coef_frac
    assert np.all(np.abs(co.c1) < (1 << (IN_COEF_WIDTH - 1)) - 1)
    assert np.all(np.abs(co.c2) < (1 << (IN_COEF_WIDTH - 1)) - 1)
    xf = dequantize(x, BWD["frac_x"])
    gf = dequantize(gamma, BWD["frac_gamma"])
    _, _, sigma = instance_norm_float(xf, gf, np.zeros_like(gf), eps=eps_q * 2.0 ** (-2 * BWD["frac_x"]))
    dyf, xhf = dequantize(dy, BWD["frac_dy"]), dequantize(xh, BWD["frac_xhat"])
    dxf, dgf, dbf = instance_norm_float_backward(dyf, xhf, sigma, gf)
    ref = dxf * 2.0 ** BWD["frac_dx"]
    assert np.all(np.abs(ref) < 32767)
    err = np.abs(dx - ref)
    bound = backward_bound(dy, xh, ref, coef_frac)
    assert np.all(err <= bound), (err.max(), bound[err > bound])
    assert bound.max() < (1.0 if coef_frac >= 16 else 3.0)   # the bound is meaningful
    # dγ and dβ: exactly the float sums over the same integers
    dg, db = in_param_grads(t1, t2)
    assert dg.shape == db.shape == (3,) and dg.dtype == np.int64 and db.dtype == np.int64
    np.testing.assert_array_equal(dequantize(dg, BWD["frac_dy"] + BWD["frac_xhat"]), dgf)
    np.testing.assert_array_equal(dequantize(db, BWD["frac_dy"]), dbf)
    np.testing.assert_array_equal(db, dy.sum(axis=(0, 2, 3)))
    for c in range(3):
        assert int(dg[c]) == sum(int(a) * int(b) for a, b in zip(dy[:, c].ravel(), xh[:, c].ravel()))


def test_backward_coefficient_formulas():
    x, gamma, eps_q, dy, xh, t1, t2, co, dx = _backward(8)
    fx, fdy, fdx, fg, fxh, cf = 8, 10, 10, 12, 12, 16
    m = 30
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, m, gamma, np.zeros(3, np.int64), eps_q=eps_q, **FWD)

    def sr(v, s):
        return (v + (1 << (s - 1))) // (1 << s) if s > 0 else v * (1 << -s)

    for n, c in np.ndindex(2, 3):
        gr = int(gamma[c]) * int(p.rs[n, c])
        sh = RSQRT_Q + int(p.k[n, c]) + fg - fx + fdy - fdx - cf
        assert int(co.c1[n, c]) == sr(gr * m, sh)
        assert int(co.c2[n, c]) == -sr(gr * int(t2[n, c]), sh + 2 * fxh)
        assert int(co.c3[n, c]) == -sr(gr * int(t1[n, c]), sh)
    for idx in [(0, 0, 0, 0), (1, 2, 4, 5), (1, 1, 2, 3)]:
        acc = (int(co.c1[idx[:2]]) * int(dy[idx]) + int(co.c2[idx[:2]]) * int(xh[idx])
               + int(co.c3[idx[:2]]))
        assert int(dx[idx]) == min(max(sr(acc, cf), -32768), 32767)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31), h=st.integers(2, 7), w=st.integers(1, 7),
       coef_frac=st.integers(12, 20), dylim=st.sampled_from([1, 50, 1024]))
def test_backward_property(seed, h, w, coef_frac, dylim):
    x, gamma, eps_q, dy, xh, t1, t2, co, dx = _backward(seed, coef_frac, n=1, c=2, h=h, w=w, dylim=dylim)
    _, _, sigma = instance_norm_float(dequantize(x, 8), dequantize(gamma, 12), np.zeros(2),
                                      eps=eps_q * 2.0 ** -16)
    dxf, _, _ = instance_norm_float_backward(dequantize(dy, 10), dequantize(xh, 12), sigma,
                                             dequantize(gamma, 12))
    ref = dxf * 2.0 ** 10
    assert np.all(np.abs(dx - ref) <= backward_bound(dy, xh, ref, coef_frac))


def test_backward_errors_and_determinism():
    x, gamma, eps_q, dy, xh, t1, t2, co, dx = _backward(9)
    s1, s2 = in_stats(x)
    p = in_params(s1, s2, 30, gamma, np.zeros(3, np.int64), eps_q=eps_q, **FWD)
    with pytest.raises(ValueError):
        in_backward_params(t1, t2, 30, gamma[:2], p.rs, p.k, **BWD)
    co2 = in_backward_params(t1, t2, 30, gamma, p.rs, p.k, **BWD)
    for f in ("c1", "c2", "c3"):
        np.testing.assert_array_equal(getattr(co, f), getattr(co2, f))
    np.testing.assert_array_equal(in_backward_apply(dy, xh, co2), dx)
    # dγ, dβ sum over the batch
    dg, db = in_param_grads(t1, t2)
    np.testing.assert_array_equal(dg, t2.sum(axis=0))
    np.testing.assert_array_equal(db, t1.sum(axis=0))


def test_backward_frac_dx_is_the_training_steps_choice():
    """in_backward_frac_dx gives the fraction bits nn.InstanceNormReLU's backward picks."""
    from ganforge.golden import instnorm as IN
    from ganforge.golden.nn import Arith, InstanceNormReLU, QT
    rng = np.random.default_rng(5)
    ar = Arith(fixed=True, width=16)
    for trial in range(3):
        layer = InstanceNormReLU("in", 3)
        layer.params["gamma"] = rng.uniform(0.5, 2.0, 3)
        x = QT(rng.integers(-4000, 4000, size=(2, 3, 4, 4)), 12)
        layer.forward(x, ar)
        dy = QT(rng.integers(-3000, 3000, size=(2, 3, 4, 4)), 20 + trial)
        dx = layer.backward(dy, ar)
        _, gq, s1, p, mask, count = layer.cache
        dpre = np.where(mask, dy.q, 0)
        xhat = IN.in_xhat(x.q, s1, count, p.rs, p.k, 10, 16)
        t1, t2 = IN.in_backward_stats(dpre, xhat)
        assert IN.in_backward_frac_dx(dpre, xhat, t1, t2, count, gq, p.rs, p.k, frac_x=12,
                                      frac_dy=dy.frac, frac_gamma=12, frac_xhat=10) == dx.frac
