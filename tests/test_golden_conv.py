"""Golden model, convolutions (golden/conv.py): exact against naive loops, exact adjoints.

All integer comparisons are exact; the references below use Python integers
(object arrays), so they cannot overflow or round. The float path is checked by
finite differences, the only place a tolerance appears.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ganforge.golden import (conv2d, conv2d_input_grad, conv2d_out_hw, conv2d_weight_grad,
                             conv_transpose2d, conv_transpose2d_input_grad,
                             conv_transpose2d_out_hw, conv_transpose2d_weight_grad,
                             conv_transpose2d_zero_insert, exact_matmul, transpose_phases)

EXTREMES = (-32768, -32767, 32767)


# --------------------------------------------------------------------------- references

def ref_conv2d(x, w, s, p):
    """Direct loop: y[n,co,oh,ow] = sum_{ci,kh,kw} x[n,ci,oh*s-p+kh,ow*s-p+kw] * w[co,ci,kh,kw]."""
    n, cin, h, wd = x.shape
    cout, _, k, _ = w.shape
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    xo, wob = np.asarray(x).astype(object), np.asarray(w).astype(object)
    y = np.zeros((n, cout, ho, wo), dtype=object)
    for b, co, oh, ow in itertools.product(range(n), range(cout), range(ho), range(wo)):
        acc = 0
        for ci, kh, kw in itertools.product(range(cin), range(k), range(k)):
            ih, iw = oh * s - p + kh, ow * s - p + kw
            if 0 <= ih < h and 0 <= iw < wd:
                acc += xo[b, ci, ih, iw] * wob[co, ci, kh, kw]
        y[b, co, oh, ow] = acc
    return y


def ref_conv_transpose2d(x, w, s, p, op):
    """Scatter loop: every input x[n,ci,ih,iw] adds x*w[ci,co,kh,kw] to output (ih*s-p+kh, iw*s-p+kw)."""
    n, cin, h, wd = x.shape
    _, cout, k, _ = w.shape
    ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
    xo, wob = np.asarray(x).astype(object), np.asarray(w).astype(object)
    y = np.zeros((n, cout, ho, wo), dtype=object)
    for b, ci, ih, iw, kh, kw in itertools.product(range(n), range(cin), range(h), range(wd),
                                                   range(k), range(k)):
        oh, ow = ih * s - p + kh, iw * s - p + kw
        if 0 <= oh < ho and 0 <= ow < wo:
            for co in range(cout):
                y[b, co, oh, ow] += xo[b, ci, ih, iw] * wob[ci, co, kh, kw]
    return y


def dot(a, b):
    """Exact inner product with Python ints."""
    a, b = np.asarray(a).astype(object).ravel(), np.asarray(b).astype(object).ravel()
    assert a.shape == b.shape
    return int(sum(a * b)) if a.size else 0


def assert_exact(got, expected):
    assert got.dtype == np.int64, got.dtype
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert all(int(g) == int(e) for g, e in zip(got.ravel(), expected.ravel()))


def int_values(rng, shape, lim, extremes):
    a = rng.integers(-lim, lim + 1, size=shape, dtype=np.int64)
    if extremes:
        # sprinkle full-scale 16-bit values (and some zeros) in
        pick = rng.random(shape)
        a[pick < 0.3] = rng.choice(EXTREMES, size=int((pick < 0.3).sum()))
        a[(pick >= 0.3) & (pick < 0.4)] = 0
    return a


def draw_operands(draw, h, wd, k, transposed):
    """x [n, cin, h, wd] and weights ([cin, cout, k, k] if ``transposed`` else [cout, cin, k, k]):
    small values, or full-scale 16-bit ones with zeros sprinkled in."""
    n, cin, cout = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    extremes = draw(st.booleans())
    rng = np.random.default_rng(seed)
    lim = 32767 if extremes else 50
    x = int_values(rng, (n, cin, h, wd), lim, extremes)
    w = int_values(rng, (cin, cout, k, k) if transposed else (cout, cin, k, k), lim, extremes)
    return x, w


@st.composite
def conv_case(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * p), k + 5))
    wd = draw(st.integers(max(1, k - 2 * p), k + 5))
    x, w = draw_operands(draw, h, wd, k, transposed=False)
    return x, w, s, p


@st.composite
def convt_case(draw, max_pad_extra=0):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    op = draw(st.integers(0, s - 1))
    p = draw(st.integers(0, k - 1 + max_pad_extra))
    # the output must be at least 1x1: (h-1)*s - 2p + k + op >= 1
    hmin = max(1, -((k + op - 1 - 2 * p) // s) + 1)
    h = draw(st.integers(hmin, hmin + 4))
    wd = draw(st.integers(hmin, hmin + 4))
    x, w = draw_operands(draw, h, wd, k, transposed=True)
    return x, w, s, p, op


# --------------------------------------------------------------------------- conv2d

@settings(max_examples=60, deadline=None)
@given(case=conv_case())
def test_conv2d_equals_loop_reference(case):
    x, w, s, p = case
    y = conv2d(x, w, s, p)
    assert_exact(y, ref_conv2d(x, w, s, p))
    assert y.shape[2:] == conv2d_out_hw(x.shape[2:], w.shape[2], s, p)


def test_conv2d_hand_computed():
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.array([[[[1, 0], [0, -1]]]])
    # y[i,j] = x[i,j] - x[i+1,j+1] = -5 everywhere
    assert_exact(conv2d(x, w), np.full((1, 1, 3, 3), -5))
    # stride 2, padding 1: y[i,j] = xp[2i,2j] - xp[2i+1,2j+1]
    xp = np.pad(x[0, 0], 1)
    expected = [[xp[2 * i, 2 * j] - xp[2 * i + 1, 2 * j + 1] for j in range(3)] for i in range(3)]
    assert_exact(conv2d(x, w, 2, 1), np.array(expected).reshape(1, 1, 3, 3))


def test_conv2d_full_scale_accumulation():
    """C_in*K*K = 3*25 products of (-32768)*(-32768) = 2**30 each: 75*2**30, exact in int64."""
    x = np.full((1, 3, 5, 5), -32768)
    w = np.full((2, 3, 5, 5), -32768)
    y = conv2d(x, w)
    assert_exact(y, np.full((1, 2, 1, 1), 75 * (1 << 30)))


# --------------------------------------------------------------------------- conv_transpose2d

@settings(max_examples=150, deadline=None)
@given(case=convt_case())
def test_conv_transpose2d_phases_equal_zero_insert(case):
    x, w, s, p, op = case
    y = conv_transpose2d(x, w, s, p, op)
    z = conv_transpose2d_zero_insert(x, w, s, p, op)
    assert y.dtype == np.int64 and z.dtype == np.int64
    assert y.shape == z.shape == (x.shape[0], w.shape[1]) + conv_transpose2d_out_hw(
        x.shape[2:], w.shape[2], s, p, op)
    np.testing.assert_array_equal(y, z)


@settings(max_examples=50, deadline=None)
@given(case=convt_case(max_pad_extra=2))
def test_conv_transpose2d_equals_scatter_reference(case):
    x, w, s, p, op = case
    assert_exact(conv_transpose2d(x, w, s, p, op), ref_conv_transpose2d(x, w, s, p, op))


def test_conv_transpose2d_hand_computed():
    # 1x1 input, stride 2: the output is the kernel scaled by x
    x = np.array([[[[3]]]])
    w = np.arange(16).reshape(1, 1, 4, 4)
    assert_exact(conv_transpose2d(x, w, 2, 0), 3 * w)
    assert_exact(conv_transpose2d(x, w, 2, 1), 3 * w[:, :, 1:3, 1:3])
    # 2x2 input, K=2, stride 2: non-overlapping tiles
    x = np.array([[[[1, 2], [3, 4]]]])
    w = np.array([[[[1, -1], [10, 100]]]])
    expected = np.kron(x[0, 0], w[0, 0]).reshape(1, 1, 4, 4)
    assert_exact(conv_transpose2d(x, w, 2, 0), expected)
    # output_padding adds a row/column of zeros here (nothing lands there)
    y = conv_transpose2d(x, w, 2, 0, 1)
    assert y.shape == (1, 1, 5, 5)
    assert_exact(y[:, :, :4, :4], expected)
    assert not y[:, :, 4, :].any() and not y[:, :, :, 4].any()


def test_transpose_phases():
    assert transpose_phases(4, 2, 1) == [(0, [0, 2]), (1, [1, 3])]
    assert transpose_phases(4, 2, 0) == [(0, [0, 2]), (1, [1, 3])]
    assert transpose_phases(5, 2, 2) == [(0, [0, 2, 4]), (1, [1, 3])]
    assert transpose_phases(3, 3, 0) == [(0, [0]), (1, [1]), (2, [2])]
    assert transpose_phases(1, 3, 0) == [(0, [0]), (1, []), (2, [])]
    assert transpose_phases(3, 1, 1) == [(0, [0, 1, 2])]
    # every kernel tap belongs to exactly one phase
    for k, s in itertools.product(range(1, 6), range(1, 4)):
        taps = sorted(t for _, ts in transpose_phases(k, s, 0) for t in ts)
        assert taps == list(range(k))


# --------------------------------------------------------------------------- adjoints

def check_adjoints(x, w, y, dy, dx, dw):
    """The gradients ``dx``, ``dw`` of ``y = op(x, w)`` for the error ``dy``: int64, shaped like
    x and w, and adjoint: <y, dy> == <x, dx> == <w, dw>, exactly."""
    assert dx.dtype == np.int64 and dw.dtype == np.int64
    assert dx.shape == x.shape and dw.shape == w.shape
    lhs = dot(y, dy)
    assert lhs == dot(x, dx)
    assert lhs == dot(w, dw)


@settings(max_examples=60, deadline=None)
@given(case=conv_case(), seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_adjoint_identities(case, seed):
    x, w, s, p = case
    k = w.shape[2]
    y = conv2d(x, w, s, p)
    rng = np.random.default_rng(seed)
    dy = int_values(rng, y.shape, 32767, True)
    dx = conv2d_input_grad(dy, w, s, p, input_hw=x.shape[2:])
    dw = conv2d_weight_grad(x, dy, s, p, kernel_size=k)
    check_adjoints(x, w, y, dy, dx, dw)
    # and the gradients themselves against the loop references
    # dw[co,ci,kh,kw] = sum dy * x_pad at (oh*s+kh, ow*s+kw)
    if x.size * w.shape[0] <= 300:
        ref_dw = np.zeros(w.shape, dtype=object)
        xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).astype(object)
        dyo = dy.astype(object)
        for co, ci, kh, kw in itertools.product(*map(range, w.shape)):
            for b, oh, ow in itertools.product(range(y.shape[0]), range(y.shape[2]), range(y.shape[3])):
                ref_dw[co, ci, kh, kw] += dyo[b, co, oh, ow] * xpad[b, ci, oh * s + kh, ow * s + kw]
        assert_exact(dw, ref_dw)


@settings(max_examples=60, deadline=None)
@given(case=convt_case(), seed=st.integers(0, 2 ** 32 - 1))
def test_conv_transpose2d_adjoint_identities(case, seed):
    x, w, s, p, op = case
    k = w.shape[2]
    y = conv_transpose2d(x, w, s, p, op)
    rng = np.random.default_rng(seed)
    dy = int_values(rng, y.shape, 32767, True)
    dx = conv_transpose2d_input_grad(dy, w, s, p)
    dw = conv_transpose2d_weight_grad(x, dy, s, p, kernel_size=k)
    check_adjoints(x, w, y, dy, dx, dw)


def test_conv2d_input_grad_is_zero_free_transpose():
    """EP of a strided conv with unread rows: input_hw picks the output_padding."""
    rng = np.random.default_rng(7)
    x = rng.integers(-100, 100, size=(1, 2, 8, 7))
    w = rng.integers(-100, 100, size=(3, 2, 3, 3))
    y = conv2d(x, w, 2, 0)                       # 3x3 output; the last row/col of x is unread
    dy = rng.integers(-100, 100, size=y.shape)
    dx = conv2d_input_grad(dy, w, 2, 0, input_hw=(8, 7))
    assert dx.shape == x.shape
    assert not dx[:, :, 7, :].any()              # row 7 never contributes to y
    np.testing.assert_array_equal(dx, conv_transpose2d_zero_insert(dy, w, 2, 0, (1, 0)))
    assert dot(y, dy) == dot(x, dx)
    with pytest.raises(ValueError):
        conv2d_input_grad(dy, w, 2, 0, input_hw=(10, 7))    # dy is not the output of that conv


# --------------------------------------------------------------------------- float path

@pytest.mark.parametrize("s, p, k", [(1, 0, 3), (2, 1, 3), (3, 2, 5), (2, 1, 4)])
def test_conv2d_float_finite_differences(s, p, k):
    rng = np.random.default_rng(11 + s + p + k)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, k, k))
    g = rng.standard_normal(conv2d(x, w, s, p).shape)
    loss = lambda xx, ww: float(np.sum(conv2d(xx, ww, s, p) * g))
    dx = conv2d_input_grad(g, w, s, p, input_hw=x.shape[2:])
    dw = conv2d_weight_grad(x, g, s, p, kernel_size=k)
    assert dx.dtype == np.float64 and dw.dtype == np.float64
    _check_fd(loss, x, w, dx, dw, rng)


@pytest.mark.parametrize("s, p, op, k", [(1, 0, 0, 3), (2, 1, 0, 4), (2, 1, 1, 3), (3, 1, 2, 5)])
def test_conv_transpose2d_float_finite_differences(s, p, op, k):
    rng = np.random.default_rng(23 + s + p + k + op)
    x = rng.standard_normal((2, 3, 4, 5))
    w = rng.standard_normal((3, 2, k, k))
    y = conv_transpose2d(x, w, s, p, op)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, conv_transpose2d_zero_insert(x, w, s, p, op), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    loss = lambda xx, ww: float(np.sum(conv_transpose2d(xx, ww, s, p, op) * g))
    dx = conv_transpose2d_input_grad(g, w, s, p)
    dw = conv_transpose2d_weight_grad(x, g, s, p, kernel_size=k)
    _check_fd(loss, x, w, dx, dw, rng)


def _check_fd(loss, x, w, dx, dw, rng, h=1e-2, n=8):
    """Central differences w.r.t. a few entries of x and of w, relative tolerance 1e-6."""
    for arr, grad, which in ((x, dx, "x"), (w, dw, "w")):
        for _ in range(n):
            idx = tuple(int(rng.integers(0, d)) for d in arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            if which == "x":
                fd = (loss(plus, w) - loss(minus, w)) / (2 * h)
            else:
                fd = (loss(x, plus) - loss(x, minus)) / (2 * h)
            assert grad[idx] != 0.0
            assert abs(fd - grad[idx]) <= 1e-6 * abs(grad[idx]), (which, idx, fd, grad[idx])


# --------------------------------------------------------------------------- exact_matmul

def test_exact_matmul_beyond_float_mantissa():
    """max|a|*max|b|*K >= 2**53: float64 BLAS would round, the result must still be exact."""
    big = (1 << 27) + 1
    a = np.full((2, 8), big, dtype=np.int64)
    a[1, ::2] = -big + 2
    b = np.full((8, 3), big - 4, dtype=np.int64)
    b[::3, 1] = -(big + 6)
    assert int(np.abs(a).max()) * int(np.abs(b).max()) * a.shape[1] >= 1 << 53
    got = exact_matmul(a, b)
    expected = [[sum(int(a[i, t]) * int(b[t, j]) for t in range(8)) for j in range(3)] for i in range(2)]
    assert_exact(got, np.array(expected, dtype=object))
    # the operands are chosen so that the float64 product really is inexact
    floaty = a.astype(np.float64) @ b.astype(np.float64)
    assert any(int(f) != e for f, e in zip(floaty.ravel(), np.array(expected, dtype=object).ravel()))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), kdim=st.integers(1, 300), mag=st.integers(20, 27))
def test_exact_matmul_matches_python_ints(seed, kdim, mag):
    """Bounds on both sides of 2**53 (and below 2**63, so no OverflowError)."""
    rng = np.random.default_rng(seed)
    lim = 1 << mag
    a = rng.integers(-lim, lim, size=(3, kdim))
    b = rng.integers(-lim, lim, size=(kdim, 2))
    got = exact_matmul(a, b)
    ao, bo = a.astype(object), b.astype(object)
    assert_exact(got, ao.dot(bo))


def test_exact_matmul_through_conv():
    """A conv whose bound crosses 2**53 (values near 2**26, C_in*K*K = 64) stays exact."""
    rng = np.random.default_rng(13)
    x = rng.integers((1 << 26) - 1000, (1 << 26), size=(1, 4, 4, 4)) * rng.choice([-1, 1], size=(1, 4, 4, 4))
    w = rng.integers((1 << 26) - 1000, (1 << 26), size=(2, 4, 4, 4)) * rng.choice([-1, 1], size=(2, 4, 4, 4))
    assert_exact(conv2d(x, w), ref_conv2d(x, w, 1, 0))


def test_exact_matmul_overflow():
    a = np.full((1, 4), 1 << 31, dtype=np.int64)
    b = np.full((4, 1), 1 << 31, dtype=np.int64)        # bound 2**64
    with pytest.raises(OverflowError):
        exact_matmul(a, b)
    with pytest.raises(OverflowError):
        conv2d(np.full((1, 4, 1, 1), 1 << 31), np.full((1, 4, 1, 1), 1 << 31))
    # just inside int64: bound 2**62
    a = np.full((1, 4), 1 << 30, dtype=np.int64)
    b = np.full((4, 1), 1 << 30, dtype=np.int64)
    assert_exact(exact_matmul(a, b), [[1 << 62]])


def test_exact_matmul_int64_min_operand():
    """(-2**63) * (-1) = 2**63 does not fit int64: must raise, not return garbage."""
    a = np.array([[-(1 << 63)]], dtype=np.int64)
    b = np.array([[-1]], dtype=np.int64)
    with pytest.raises(OverflowError):
        exact_matmul(a, b)


def test_exact_matmul_empty_and_float():
    assert_exact(exact_matmul(np.zeros((2, 0), np.int64), np.zeros((0, 3), np.int64)), np.zeros((2, 3)))
    f = exact_matmul(np.array([[0.5, 1.5]]), np.array([[2.0], [4.0]]))
    assert f.dtype == np.float64 and f[0, 0] == 7.0


# --------------------------------------------------------------------------- errors

def test_conv_errors():
    x = np.zeros((1, 3, 5, 5), dtype=np.int64)
    w = np.zeros((2, 3, 3, 3), dtype=np.int64)
    wt = np.zeros((3, 2, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="channels"):
        conv2d(x, np.zeros((2, 4, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="channels"):
        conv_transpose2d(x, np.zeros((4, 2, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="channels"):
        conv_transpose2d_zero_insert(x, np.zeros((4, 2, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="channels"):
        conv2d_input_grad(np.zeros((1, 5, 3, 3), dtype=np.int64), w)
    with pytest.raises(ValueError, match="stride"):
        conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="stride"):
        conv_transpose2d(x, wt, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="padding"):
        conv_transpose2d(x, wt, padding=-1)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(x, wt, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(x, wt, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(x, wt, stride=2, output_padding=(0, 2))
    with pytest.raises(ValueError):
        conv2d(x, np.zeros((2, 3, 7, 7), dtype=np.int64))           # kernel larger than input
    with pytest.raises(ValueError):
        conv_transpose2d(np.zeros((1, 3, 1, 1), np.int64), wt, padding=2)   # no output left
    with pytest.raises(ValueError):
        conv2d(x[0], w)                                             # not 4-D
    with pytest.raises(ValueError):
        conv2d_weight_grad(x, np.zeros((1, 2, 3, 3), np.int64), 1, 0)       # kernel_size missing
    with pytest.raises(ValueError):
        conv2d_weight_grad(x, np.zeros((1, 2, 4, 4), np.int64), 1, 0, kernel_size=3)  # wrong dy shape
    with pytest.raises(ValueError):
        conv2d_weight_grad(x, np.zeros((2, 2, 3, 3), np.int64), 1, 0, kernel_size=3)  # batch differs
    with pytest.raises(ValueError):
        conv_transpose2d_weight_grad(x, np.zeros((1, 2, 9, 9), np.int64), 1, 0, kernel_size=3)


def test_integer_ops_refuse_non_integer_values():
    """Integer arrays are fixed-point codes; anything that is not an integer is a TypeError.

    Float arrays are the float reference path (no error); as_int_array guards the
    integer path: strings/objects of the wrong kind are refused.
    """
    w = np.ones((1, 1, 1, 1), dtype=np.int64)
    with pytest.raises(TypeError):
        conv2d(np.array([[[["a"]]]]), w)
    with pytest.raises(TypeError):
        conv_transpose2d(np.array([[[["a"]]]]), w)
    # float input goes down the float path and gives a float result
    y = conv2d(np.full((1, 1, 2, 2), 0.5), w)
    assert y.dtype == np.float64 and np.all(y == 0.5)
    # bool/int8/int32 inputs are promoted to exact int64
    y = conv2d(np.ones((1, 1, 2, 2), dtype=np.int8) * 100, np.full((1, 1, 2, 2), 100, dtype=np.int8))
    assert_exact(y, [[[[40000]]]])
