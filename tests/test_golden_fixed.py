"""Golden model, fixed-point arithmetic (golden/fixed.py): the one written rounding rule.

Every check here is exact: integers in, integers out, compared with hand-worked
values or with a pure-Python-int reference.
"""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from ganforge.golden import (ACTIVATIONS, activate, activation_backward, dequantize, leaky_relu,
                             output_stage, quantize, relu, relu_mask, requantize, saturate,
                             shift_round)
from ganforge.golden.fixed import as_int_array, int_range

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


# --------------------------------------------------------------------------- references

def ref_shift_round(v, s):
    """Round-half-up shift of a Python int: floor((v + 2**(s-1)) / 2**s); s <= 0 is v * 2**-s."""
    v, s = int(v), int(s)
    if s <= 0:
        return v * (1 << -s)
    # Floor division on Python ints is exact and unbounded.
    return (v + (1 << (s - 1))) // (1 << s)


def ref_requantize(v, s, width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return min(max(ref_shift_round(v, s), lo), hi)


def assert_int64_equal(got, expected):
    got = np.asarray(got)
    assert got.dtype == np.int64, got.dtype
    np.testing.assert_array_equal(got, np.asarray(expected, dtype=np.int64))


# --------------------------------------------------------------------------- shift_round

@pytest.mark.parametrize("v, s, expected", [
    (3, 1, 2),          # 1.5   -> 2 (tie rounds up)
    (-3, 1, -1),        # -1.5  -> -1 (tie rounds up, i.e. towards +inf)
    (-1, 1, 0),         # -0.5  -> 0
    (1, 1, 1),          # 0.5   -> 1
    (2, 1, 1),
    (-2, 1, -1),
    (5, 2, 1),          # 1.25  -> 1
    (6, 2, 2),          # 1.5   -> 2
    (7, 2, 2),          # 1.75  -> 2
    (-5, 2, -1),        # -1.25 -> -1
    (-6, 2, -1),        # -1.5  -> -1
    (-7, 2, -2),        # -1.75 -> -2
    (-10, 2, -2),       # -2.5  -> -2
    (10, 2, 3),         # 2.5   -> 3
    (0, 5, 0),
    (15, 4, 1),         # 0.9375 -> 1
    (7, 4, 0),          # 0.4375 -> 0
    (8, 4, 1),          # 0.5    -> 1
    (-8, 4, 0),         # -0.5   -> 0
    (-9, 4, -1),        # -0.5625 -> -1
    (12345, 0, 12345),  # shift 0 is the identity
    (-12345, 0, -12345),
    (3, -2, 12),        # negative shift: exact left shift
    (-3, -4, -48),
    (1, -40, 1 << 40),
    ((1 << 47) - 1, 47, 1),     # 0.99999... -> 1
    (-(1 << 47), 47, -1),
    (-(1 << 46), 47, 0),        # -0.5 -> 0
    (-(1 << 46) - 1, 47, -1),
])
def test_shift_round_hand_picked(v, s, expected):
    got = shift_round(v, s)
    assert int(got) == expected
    assert np.asarray(got).dtype == np.int64
    assert ref_shift_round(v, s) == expected   # the test's own reference agrees


def test_shift_round_array_of_values():
    v = np.array([-7, -6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6, 7])
    assert_int64_equal(shift_round(v, 1), [ref_shift_round(i, 1) for i in v])
    assert_int64_equal(shift_round(v, 2), [-2, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2, 2])


def test_shift_round_per_element_shifts_equal_scalar_shifts():
    rng = np.random.default_rng(1)
    v = rng.integers(-(1 << 40), 1 << 40, size=(3, 5, 7))
    shifts = rng.integers(-6, 30, size=(3, 5, 7))
    got = shift_round(v, shifts)
    expected = np.empty_like(v)
    for idx in np.ndindex(v.shape):
        expected[idx] = int(shift_round(v[idx], int(shifts[idx])))
        assert expected[idx] == ref_shift_round(v[idx], shifts[idx])
    assert_int64_equal(got, expected)


def test_shift_round_per_channel_broadcast():
    rng = np.random.default_rng(2)
    v = rng.integers(-100000, 100000, size=(2, 4, 3, 3))
    s = np.array([0, 1, 5, -2]).reshape(1, 4, 1, 1)       # one shift per channel
    got = shift_round(v, s)
    for c in range(4):
        assert_int64_equal(got[:, c], shift_round(v[:, c], int(s[0, c, 0, 0])))


@settings(max_examples=200, deadline=None)
@given(v=st.integers(-(1 << 55), 1 << 55), s=st.integers(-7, 56))
def test_shift_round_matches_python_int(v, s):
    assert int(shift_round(np.int64(v), s)) == ref_shift_round(v, s)
    assert int(shift_round(np.array([v]), np.array([s]))[0]) == ref_shift_round(v, s)


def test_shift_round_refuses_non_integer_floats():
    with pytest.raises(TypeError):
        shift_round(np.array([1.5, 2.0]), 1)
    with pytest.raises(TypeError):
        shift_round(np.array([np.nan]), 1)
    # Integer-valued floats are fixed-point codes and accepted.
    assert_int64_equal(shift_round(np.array([3.0, -3.0]), 1), [2, -1])


# --------------------------------------------------------------------------- as_int_array

def test_as_int_array_behaviour():
    assert_int64_equal(as_int_array(np.array([True, False])), [1, 0])
    assert_int64_equal(as_int_array(np.array([1, 2], dtype=np.int8)), [1, 2])
    assert_int64_equal(as_int_array(np.array([4.0, -7.0])), [4, -7])
    with pytest.raises(TypeError):
        as_int_array(np.array([0.25]))
    with pytest.raises(TypeError):
        as_int_array(np.array([np.inf]))
    with pytest.raises(TypeError):
        as_int_array(np.array(["1"]))
    with pytest.raises(OverflowError):
        as_int_array(np.array([np.iinfo(np.uint64).max], dtype=np.uint64))
    with pytest.raises(OverflowError):
        as_int_array(np.array([2.0 ** 70]))


# --------------------------------------------------------------------------- saturate / requantize

def test_int_range():
    assert int_range(8) == (-128, 127)
    assert int_range(16) == (-32768, 32767)
    assert int_range(48) == (-(1 << 47), (1 << 47) - 1)
    for bad in (1, 0, 64, 2.5):
        with pytest.raises(ValueError):
            int_range(bad)


def test_saturate_extremes():
    big = (1 << 47)
    v = np.array([-big, -big + 1, -32769, -32768, -32767, -1, 0, 1, 32766, 32767, 32768, big - 1])
    assert_int64_equal(saturate(v, 16),
                       [-32768, -32768, -32768, -32768, -32767, -1, 0, 1, 32766, 32767, 32767, 32767])
    assert_int64_equal(saturate(v, 8),
                       [-128, -128, -128, -128, -128, -1, 0, 1, 127, 127, 127, 127])
    assert_int64_equal(saturate(np.array([INT64_MIN, INT64_MAX]), 16), [-32768, 32767])
    with pytest.raises(ValueError):
        saturate(v, 1)
    with pytest.raises(ValueError):
        saturate(v, 64)


@pytest.mark.parametrize("acc, shift, width, expected", [
    ((1 << 47) - 1, 0, 16, 32767),
    (-(1 << 47), 0, 16, -32768),
    (-(1 << 47), 0, 8, -128),
    ((1 << 47) - 1, 32, 16, 32767),            # rounds to 2**15, then saturates
    (-(1 << 47), 32, 16, -32768),              # exactly -2**15: no saturation needed
    (-(1 << 47) - (1 << 31), 32, 16, -32768),  # -32768.5 rounds up to -32768
    (-(1 << 47) - (1 << 31) - 1, 32, 16, -32768),  # -32769 saturates
    ((32767 << 32) + (1 << 31) - 1, 32, 16, 32767),
    ((32767 << 32) + (1 << 31), 32, 16, 32767),    # 32767.5 -> 32768 -> saturated
    ((1 << 47) - 1, 40, 8, 127),               # 127.99.. -> 128 -> 127
    (-(1 << 47), 40, 8, -128),
    ((127 << 40) + (1 << 39) - 1, 40, 8, 127),
    ((-128 << 40) - (1 << 39), 40, 8, -128),   # -128.5 -> -128
    ((-128 << 40) - (1 << 39) - 1, 40, 8, -128),
    ((100 << 40) + (1 << 39), 40, 8, 101),     # tie up
    ((-100 << 40) - (1 << 39), 40, 8, -100),   # tie up (towards +inf)
    (5, 1, 8, 3),
    (-5, 1, 8, -2),
    (-1, 62, 16, 0),
    ((1 << 61), 62, 16, 1),                    # 0.5 -> 1
])
def test_requantize_hand_picked(acc, shift, width, expected):
    assert ref_requantize(acc, shift, width) == expected
    got = requantize(np.array([acc], dtype=np.int64), shift, width)
    assert_int64_equal(got, [expected])


def test_requantize_shift_range():
    with pytest.raises(ValueError):
        requantize(np.array([1]), -1)
    with pytest.raises(ValueError):
        requantize(np.array([1]), 63)
    with pytest.raises(ValueError):
        requantize(np.array([1, 2]), np.array([3, 70]))
    with pytest.raises(TypeError):
        requantize(np.array([1.5]), 1)


def test_requantize_per_channel_shift():
    rng = np.random.default_rng(3)
    acc = rng.integers(-(1 << 40), 1 << 40, size=(2, 3, 4, 4))
    s = np.array([20, 24, 28]).reshape(1, 3, 1, 1)
    got = requantize(acc, s, 16)
    for idx in np.ndindex(acc.shape):
        assert got[idx] == ref_requantize(acc[idx], s[0, idx[1], 0, 0], 16)


@settings(max_examples=300, deadline=None)
@given(v=st.integers(-(1 << 62), (1 << 62) - 1), s=st.integers(0, 62), width=st.sampled_from([8, 16]))
def test_requantize_matches_python_int(v, s, width):
    """Accumulator range (|v| < 2**62): requantize == clip(floor((v + 2**(s-1)) / 2**s))."""
    assert int(requantize(np.array([v], dtype=np.int64), s, width)[0]) == ref_requantize(v, s, width)


@settings(max_examples=300, deadline=None)
@example(v=INT64_MAX, s=1, width=16)
@example(v=INT64_MAX - 3, s=4, width=8)
@given(v=st.integers(INT64_MIN, INT64_MAX), s=st.integers(0, 62), width=st.sampled_from([8, 16]))
def test_requantize_matches_python_int_full_int64(v, s, width):
    """Any int64 input: the rounding offset must not wrap (e.g. 2**63-1 >> 1 rounds to 2**62)."""
    assert int(requantize(np.array([v], dtype=np.int64), s, width)[0]) == ref_requantize(v, s, width)


# --------------------------------------------------------------------------- quantize / dequantize

@pytest.mark.parametrize("x, f, width, expected", [
    (0.5, 0, 16, 1),
    (-0.5, 0, 16, 0),
    (1.5, 0, 16, 2),
    (-1.5, 0, 16, -1),
    (2.5, 0, 16, 3),
    (-2.5, 0, 16, -2),
    (0.49, 0, 16, 0),
    (-0.51, 0, 16, -1),
    (1.0 / 512, 8, 16, 1),        # 0.5 LSB -> 1
    (-1.0 / 512, 8, 16, 0),       # -0.5 LSB -> 0
    (-3.0 / 512, 8, 16, -1),      # -1.5 LSB -> -1
    (0.75, 8, 16, 192),
    (127.99, 8, 16, 32765),       # 32765.44 -> 32765
    (127.998, 8, 16, 32767),      # 32767.488 -> 32767
    (127.999, 8, 16, 32767),      # 32767.74 -> 32768 -> saturated
    (128.0, 8, 16, 32767),
    (1e9, 8, 16, 32767),
    (-128.0, 8, 16, -32768),
    (-1e9, 8, 16, -32768),
    (1e300, 15, 16, 32767),
    (-1e300, 15, 16, -32768),
    (1.0, 7, 8, 127),             # 128 -> saturated to 8 bits
    (-1.0, 7, 8, -128),
    (-1.004, 7, 8, -128),
    (0.5, 7, 8, 64),
])
def test_quantize_hand_picked(x, f, width, expected):
    got = quantize(x, f, width)
    assert int(got) == expected
    assert np.asarray(got).dtype == np.int64


def test_quantize_array_and_nan():
    assert_int64_equal(quantize(np.array([[0.5, -0.5], [1.25, -1.25]]), 1), [[1, -1], [3, -2]])
    with pytest.raises(ValueError):
        quantize(np.array([0.0, np.nan]), 8)
    with pytest.raises(ValueError):
        quantize(np.array([np.inf]), 8)


@pytest.mark.parametrize("f", [0, 8, 15])
def test_quantize_just_below_a_tie(f):
    """floor(x*2**f + 0.5) for x one ulp below the tie 0.5*2**-f is 0, not 1.

    In floats, 0.49999999999999994 + 0.5 rounds to 1.0, so a naive
    ``floor(x + 0.5)`` gets this wrong.
    """
    x = math.ldexp(np.nextafter(0.5, 0.0), -f)
    assert x * 2.0 ** f < 0.5
    assert int(quantize(x, f)) == 0
    assert int(quantize(-x, f)) == 0


def test_quantize_wide_integers_exact():
    """Width up to 63 is allowed: integer-valued x above 2**52 must quantize to itself."""
    x = 2.0 ** 52 + 1.0                       # exactly representable
    assert int(quantize(x, 0, width=60)) == (1 << 52) + 1
    assert int(quantize(-x, 0, width=60)) == -(1 << 52) - 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), f=st.integers(0, 15), width=st.sampled_from([8, 16]))
def test_dequantize_quantize_error(data, f, width):
    lo, hi = int_range(width)
    x = data.draw(st.floats(min_value=lo * 2.0 ** -f, max_value=hi * 2.0 ** -f,
                            allow_nan=False, allow_infinity=False))
    q = quantize(x, f, width)
    assert lo <= int(q) <= hi
    err = abs(float(dequantize(q, f)) - x)
    assert err <= 2.0 ** -(f + 1)
    # round-half-up: the error is never exactly -half (x*2**f = k + 0.5 always goes up to k+1)
    assert float(dequantize(q, f)) - x > -(2.0 ** -(f + 1))


def test_dequantize_exact():
    q = np.array([-32768, -1, 0, 1, 32767])
    got = dequantize(q, 15)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.array([-1.0, -2.0 ** -15, 0.0, 2.0 ** -15, 1.0 - 2.0 ** -15]))
    np.testing.assert_array_equal(dequantize(np.array([3]), -2), np.array([12.0]))
    assert_int64_equal(quantize(dequantize(q, 9), 9), q)


# --------------------------------------------------------------------------- activations

def test_relu_and_mask():
    x = np.array([-32768, -5, -1, 0, 1, 7, 32767])
    assert_int64_equal(relu(x), [0, 0, 0, 0, 1, 7, 32767])
    np.testing.assert_array_equal(relu_mask(x), [False, False, False, False, True, True, True])
    assert relu_mask(x).dtype == np.bool_


@pytest.mark.parametrize("k, x, expected", [
    (2, [-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 5, 32767],
        # -8/4=-2, -1.75->-2, -1.5->-1, -1.25->-1, -1, -0.75->-1, -0.5->0, -0.25->0
        [-2, -2, -1, -1, -1, -1, 0, 0, 0, 1, 5, 32767]),
    (0, [-3, -1, 0, 2], [-3, -1, 0, 2]),          # slope 1
    (1, [-3, -2, -1, 4], [-1, -1, 0, 4]),
    (3, [-32768, -12, -4, -5], [-4096, -1, 0, -1]),  # -1.5 -> -1, -0.5 -> 0, -0.625 -> -1
    (15, [-32768, -16384, -16385], [-1, 0, -1]),
])
def test_leaky_relu(k, x, expected):
    assert_int64_equal(leaky_relu(np.array(x), k), expected)
    assert_int64_equal(activate(np.array(x), "leaky_relu", k), expected)


def test_leaky_relu_bad_slope():
    with pytest.raises(ValueError):
        leaky_relu(np.array([1]), 16)
    with pytest.raises(ValueError):
        leaky_relu(np.array([1]), -1)


def test_activate_names():
    x = np.array([-9, 0, 9])
    assert_int64_equal(activate(x), x)
    assert_int64_equal(activate(x, "identity"), x)
    assert_int64_equal(activate(x, "relu"), [0, 0, 9])
    assert_int64_equal(activate(x, "leaky_relu", 3), [-1, 0, 9])   # -9/8 = -1.125 -> -1
    assert ACTIVATIONS == {"identity": 0, "relu": 1, "leaky_relu": 2}
    with pytest.raises(ValueError):
        activate(x, "gelu")


def test_activation_backward():
    dy = np.array([[-9, -6, 5, 6, 7, -1]])
    mask = np.array([[True, False, True, False, False, False]])
    assert_int64_equal(activation_backward(dy, mask, "identity"), dy)
    assert_int64_equal(activation_backward(dy, mask, "relu"), [[-9, 0, 5, 0, 0, 0]])
    # leaky, k=2: unmasked dy -> shift_round(dy, 2): -6/4=-1.5->-1, 6/4=1.5->2, 7/4=1.75->2, -1/4->0
    assert_int64_equal(activation_backward(dy, mask, "leaky_relu", 2), [[-9, -1, 5, 2, 2, 0]])
    with pytest.raises(ValueError):
        activation_backward(dy, mask[:, :3], "relu")
    with pytest.raises(ValueError):
        activation_backward(dy, mask, "tanh")


def test_activation_backward_is_consistent_with_forward_mask():
    """ReLU: the mask written in FP is exactly the output sparsity of EP."""
    rng = np.random.default_rng(4)
    pre = rng.integers(-50, 50, size=(2, 3, 5, 5))
    y = activate(pre, "relu")
    mask = relu_mask(pre)
    dy = rng.integers(-100, 100, size=pre.shape)
    dx = activation_backward(dy, mask, "relu")
    np.testing.assert_array_equal(dx != 0, (dy != 0) & (y > 0))


# --------------------------------------------------------------------------- output_stage

def test_output_stage_with_bias():
    # acc in 8 fraction bits; drop 4 -> 4 fraction bits, width 8
    acc = np.array([[[[40]], [[-40]]], [[[2000]], [[-2000]]]])   # N=2, C=2, 1x1
    bias = np.array([8, -8])
    y, mask = output_stage(acc, 4, 8, "relu", bias=bias)
    # pre = requantize(acc + bias): (48)/16=3, (-48)/16=-3, 2008/16=125.5->126, -2008/16=-125.5->-125
    assert_int64_equal(y, [[[[3]], [[0]]], [[[126]], [[0]]]])
    np.testing.assert_array_equal(mask, [[[[True]], [[False]]], [[[True]], [[False]]]])
    y2, _ = output_stage(acc + np.array([0, 0]).reshape(1, 2, 1, 1), 4, 8, "identity", bias=bias)
    assert_int64_equal(y2, [[[[3]], [[-3]]], [[[126]], [[-125]]]])
    # saturation happens after the bias
    y3, _ = output_stage(np.array([[[[2040]]]]), 4, 8, bias=np.array([8]))   # 2048/16 = 128 -> 127
    assert_int64_equal(y3, [[[[127]]]])


def test_output_stage_equals_composition():
    rng = np.random.default_rng(5)
    acc = rng.integers(-(1 << 30), 1 << 30, size=(2, 4, 3, 5))
    bias = rng.integers(-(1 << 20), 1 << 20, size=4)
    for act in ("identity", "relu", "leaky_relu"):
        y, mask = output_stage(acc, 14, 16, act, 3, bias)
        pre = np.empty_like(acc)
        for idx in np.ndindex(acc.shape):
            pre[idx] = ref_requantize(int(acc[idx]) + int(bias[idx[1]]), 14, 16)
        assert_int64_equal(y, activate(pre, act, 3))
        np.testing.assert_array_equal(mask, pre > 0)
    with pytest.raises(ValueError):
        output_stage(acc, 14, 16, bias=np.zeros(3, dtype=np.int64))
    y, mask = output_stage(acc, 14, 16)            # no bias
    assert_int64_equal(y, requantize(acc, 14, 16))
