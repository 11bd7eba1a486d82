"""Golden model, MAC work counters (golden/work.py), against brute-force counts."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ganforge.golden import conv2d_work, conv_transpose2d_work, taps_per_output, weight_grad_work


# --------------------------------------------------------------------------- brute force

class Tally:
    """Brute-force MAC counts: every in-bounds MAC is ``dense``, and exactly one of masked off
    (``output_mask_skipped``), an operand zero (``input_zero_skipped``) or ``effective``."""

    def __init__(self):
        self.dense = self.masked = self.zero = self.eff = 0

    def mac(self, masked, zero):
        self.dense += 1
        if masked:
            self.masked += 1
        elif zero:
            self.zero += 1
        else:
            self.eff += 1

    def counts(self):
        return {"dense": self.dense, "output_mask_skipped": self.masked, "input_zero_skipped": self.zero,
                "effective": self.eff}


def bf_conv2d(x, w_shape, s, p, out_mask=None):
    """Loop over outputs (n, co, oh, ow) and taps (ci, kh, kw); a tap is a MAC when it lands in x."""
    n, cin, h, wd = x.shape
    cout, _, k, _ = w_shape
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    tally = Tally()
    for b, co, oh, ow in itertools.product(range(n), range(cout), range(ho), range(wo)):
        keep = True if out_mask is None else bool(out_mask[b, co, oh, ow])
        for ci, kh, kw in itertools.product(range(cin), range(k), range(k)):
            ih, iw = oh * s - p + kh, ow * s - p + kw
            if 0 <= ih < h and 0 <= iw < wd:
                tally.mac(masked=not keep, zero=x[b, ci, ih, iw] == 0)
    return tally.counts()


def bf_conv_transpose2d(x, w_shape, s, p, op, out_mask=None):
    """Loop over (input element, tap, output channel); a MAC when the tap lands inside the output."""
    n, cin, h, wd = x.shape
    _, cout, k, _ = w_shape
    ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
    tally = Tally()
    for b, ci, ih, iw, kh, kw, co in itertools.product(range(n), range(cin), range(h), range(wd),
                                                       range(k), range(k), range(cout)):
        oh, ow = ih * s - p + kh, iw * s - p + kw
        if 0 <= oh < ho and 0 <= ow < wo:
            keep = True if out_mask is None else bool(out_mask[b, co, oh, ow])
            tally.mac(masked=not keep, zero=x[b, ci, ih, iw] == 0)
    zero_insert = n * cout * ho * wo * cin * k * k
    return {**tally.counts(), "zero_insert": zero_insert, "zero_insertion_skipped": zero_insert - tally.dense}


def bf_weight_grad(x, dy, s, p, k, dy_mask=None):
    """dw[co,ci,kh,kw] += dy[n,co,oh,ow] * x[n,ci,oh*s-p+kh,ow*s-p+kw]: count the in-bounds pairs."""
    n, cin, h, wd = x.shape
    _, cout, ho, wo = dy.shape
    tally = Tally()
    for b, co, oh, ow, ci, kh, kw in itertools.product(range(n), range(cout), range(ho), range(wo),
                                                       range(cin), range(k), range(k)):
        ih, iw = oh * s - p + kh, ow * s - p + kw
        if 0 <= ih < h and 0 <= iw < wd:
            tally.mac(masked=dy_mask is not None and not dy_mask[b, co, oh, ow],
                      zero=dy[b, co, oh, ow] == 0 or x[b, ci, ih, iw] == 0)
    return tally.counts()


def sparse(rng, shape, p_zero=0.4):
    a = rng.integers(-5, 6, size=shape)
    a[a == 0] = 1
    a[rng.random(shape) < p_zero] = 0
    return a


def check_counts(got, expected):
    assert set(got) == set(expected)
    for key, val in expected.items():
        assert isinstance(got[key], int), (key, type(got[key]))
        assert got[key] == val, (key, got[key], val)
    assert got["dense"] == got["effective"] + got["output_mask_skipped"] + got["input_zero_skipped"]
    assert all(v >= 0 for v in got.values())


def brute_force_cases(k_max, examples=40, masked=True):
    """Hypothesis cases for a brute-force comparison: ``seed``, a kernel ``k`` in [1, k_max], a
    stride ``s`` in [1, 3], ``data`` for the geometry draws and (if ``masked``) ``masked``."""
    mask = {"masked": st.booleans()} if masked else {}
    cases = given(seed=st.integers(0, 2 ** 32 - 1), k=st.integers(1, k_max), s=st.integers(1, 3),
                  data=st.data(), **mask)
    return lambda test: settings(max_examples=examples, deadline=None)(cases(test))


def draw_geometry(data, k):
    """A padding ``p`` < k and a height ``h`` <= 7 with at least one output: ``(p, h)``."""
    p = data.draw(st.integers(0, k - 1))
    return p, data.draw(st.integers(max(1, k - 2 * p), 7))


def draw_transposed_geometry(data, k, s):
    """An output padding ``op`` < s, a padding ``p`` < k and an input height ``h`` whose
    transposed output is at least 1x1: ``(op, p, h)``."""
    op = data.draw(st.integers(0, s - 1))
    p = data.draw(st.integers(0, k - 1))
    hmin = max(1, -((k + op - 1 - 2 * p) // s) + 1)
    return op, p, data.draw(st.integers(hmin, hmin + 3))


# --------------------------------------------------------------------------- conv2d_work

@brute_force_cases(k_max=4)
def test_conv2d_work_brute_force(seed, k, s, data, masked):
    p, h = draw_geometry(data, k)
    rng = np.random.default_rng(seed)
    n, cin, cout = 2, 2, 3
    x = sparse(rng, (n, cin, h, h + 1))
    w_shape = (cout, cin, k, k)
    ho, wo = (h + 2 * p - k) // s + 1, (h + 1 + 2 * p - k) // s + 1
    mask = rng.random((n, cout, ho, wo)) < 0.6 if masked else None
    check_counts(conv2d_work(x, w_shape, s, p, mask), bf_conv2d(x, w_shape, s, p, mask))


def test_conv2d_work_hand_counted():
    x = np.ones((1, 1, 3, 3), dtype=np.int64)
    # 3x3 kernel, padding 1, stride 1: corner outputs see 4 taps, edges 6, centre 9
    got = conv2d_work(x, (1, 1, 3, 3), 1, 1)
    assert got["dense"] == 4 * 4 + 4 * 6 + 9 == 49
    assert got["effective"] == 49 and got["input_zero_skipped"] == 0
    # without padding: one output, 9 taps; times C_out and C_in
    assert conv2d_work(np.ones((2, 3, 3, 3)), (5, 3, 3, 3))["dense"] == 2 * 5 * 9 * 3
    # all-zero input: everything is input-zero skipped
    z = conv2d_work(np.zeros((1, 2, 4, 4), dtype=np.int64), (3, 2, 3, 3), 1, 1)
    assert z["effective"] == 0 and z["input_zero_skipped"] == z["dense"] > 0
    # an all-False mask skips everything by mask
    m = conv2d_work(x, (2, 1, 3, 3), 1, 1, np.zeros((1, 2, 3, 3), dtype=bool))
    assert m["output_mask_skipped"] == m["dense"] == 98 and m["effective"] == 0


def test_conv2d_work_mask_shape_error():
    x = np.ones((1, 1, 4, 4), dtype=np.int64)
    with pytest.raises(TypeError):                   # counters take fixed-point codes only
        conv2d_work(np.full((1, 1, 4, 4), 0.5), (2, 1, 3, 3))
    with pytest.raises(TypeError):
        weight_grad_work(np.full((1, 1, 4, 4), 0.5), np.ones((1, 1, 2, 2), np.int64), 1, 0, 3)
    with pytest.raises(ValueError):
        conv2d_work(x, (2, 1, 3, 3), 1, 0, np.ones((1, 3, 2, 2), dtype=bool))
    with pytest.raises(ValueError):
        conv2d_work(x, (2, 1, 3, 3), 1, 0, np.ones((1, 2, 3, 3), dtype=bool))


# --------------------------------------------------------------------------- conv_transpose2d_work

@brute_force_cases(k_max=5)
def test_conv_transpose2d_work_brute_force(seed, k, s, data, masked):
    op, p, h = draw_transposed_geometry(data, k, s)
    rng = np.random.default_rng(seed)
    n, cin, cout = 1, 2, 3
    x = sparse(rng, (n, cin, h, h + 1))
    w_shape = (cin, cout, k, k)
    ho, wo = (h - 1) * s - 2 * p + k + op, h * s - 2 * p + k + op
    mask = rng.random((n, cout, ho, wo)) < 0.6 if masked else None
    got = conv_transpose2d_work(x, w_shape, s, p, op, mask)
    check_counts(got, bf_conv_transpose2d(x, w_shape, s, p, op, mask))
    assert got["zero_insert"] == n * cout * ho * wo * cin * k * k
    assert got["zero_insertion_skipped"] == got["zero_insert"] - got["dense"]


def test_conv_transpose2d_work_stride2_kernel4_ratio():
    """s=2, K=4, p=1 (the DCGAN up-sampling layer): each interior output sees (K/s)**2 = 4 real taps
    per input channel, against K*K = 16 for zero insertion: ratio exactly 4 in the interior."""
    n, cin, cout, h = 1, 3, 2, 16
    x = np.ones((n, cin, h, h), dtype=np.int64)
    w_shape = (cin, cout, 4, 4)
    got = conv_transpose2d_work(x, w_shape, 2, 1, 0)
    ho = 2 * h
    assert got["zero_insert"] == n * cout * ho * ho * cin * 16
    # per axis the border outputs 0 and 2h-1 see one tap, all others two: (2*2h - 2)**2 tap pairs
    assert got["dense"] == n * cin * cout * (2 * ho - 2) ** 2
    ratio = got["zero_insert"] / got["dense"]
    assert 4.0 < ratio < 4.3
    # interior only (mask off the border ring): exactly 4
    interior = np.zeros((n, cout, ho, ho), dtype=bool)
    interior[:, :, 1:-1, 1:-1] = True
    got_i = conv_transpose2d_work(x, w_shape, 2, 1, 0, interior)
    computed = got_i["dense"] - got_i["output_mask_skipped"]
    assert computed == n * cout * (ho - 2) ** 2 * cin * 4
    assert n * cout * (ho - 2) ** 2 * cin * 16 == 4 * computed
    # larger maps approach 4
    big = conv_transpose2d_work(np.ones((1, 1, 64, 64), np.int64), (1, 1, 4, 4), 2, 1, 0)
    assert 4.0 < big["zero_insert"] / big["dense"] < 4.07


# --------------------------------------------------------------------------- weight_grad_work

@brute_force_cases(k_max=4)
def test_weight_grad_work_brute_force(seed, k, s, data, masked):
    p, h = draw_geometry(data, k)
    rng = np.random.default_rng(seed)
    n, cin, cout = 2, 2, 3
    x = sparse(rng, (n, cin, h, h))
    ho = (h + 2 * p - k) // s + 1
    dy = sparse(rng, (n, cout, ho, ho))
    mask = None
    if masked:                      # a ReLU mask: the errors it removes are zero
        mask = rng.random(dy.shape) < 0.6
        dy = np.where(mask, dy, 0)
    got = weight_grad_work(x, dy, s, p, k, dy_mask=mask)
    check_counts(got, bf_weight_grad(x, dy, s, p, k, mask))


@brute_force_cases(k_max=4, examples=25, masked=False)
def test_weight_grad_work_transposed_brute_force(seed, k, s, data):
    """Transposed conv WG: dw[ci,co,kh,kw] += x[n,ci,ih,iw] * dy[n,co,ih*s-p+kh,iw*s-p+kw]."""
    op, p, h = draw_transposed_geometry(data, k, s)
    rng = np.random.default_rng(seed)
    n, cin, cout = 1, 2, 3
    x = sparse(rng, (n, cin, h, h))
    ho = (h - 1) * s - 2 * p + k + op
    dy = sparse(rng, (n, cout, ho, ho))
    got = weight_grad_work(x, dy, s, p, k, transposed=True)
    # brute force with the roles as written above: loop over x and taps, dy must be in range
    tally = Tally()
    for b, ci, ih, iw, kh, kw, co in itertools.product(range(n), range(cin), range(h), range(h),
                                                       range(k), range(k), range(cout)):
        oh, ow = ih * s - p + kh, iw * s - p + kw
        if 0 <= oh < ho and 0 <= ow < ho:
            tally.mac(masked=False, zero=x[b, ci, ih, iw] == 0 or dy[b, co, oh, ow] == 0)
    check_counts(got, tally.counts())


def test_weight_grad_work_hand_counted():
    x = np.ones((1, 1, 3, 3), dtype=np.int64)
    dy = np.ones((1, 1, 3, 3), dtype=np.int64)
    got = weight_grad_work(x, dy, 1, 1, 3)          # same as conv2d dense: 49
    assert got["dense"] == 49 and got["effective"] == 49
    dy[0, 0, 1, 1] = 0                              # the centre output's 9 MACs
    got = weight_grad_work(x, dy, 1, 1, 3)
    assert got["input_zero_skipped"] == 9 and got["effective"] == 40
    got = weight_grad_work(x, dy, 1, 1, 3, dy_mask=dy != 0)
    assert got["output_mask_skipped"] == 9 and got["input_zero_skipped"] == 0 and got["effective"] == 40


@pytest.mark.parametrize("transposed", [False, True])
def test_taps_per_output_sum_to_the_effective_macs_of_one_channel(transposed):
    rng = np.random.default_rng(3)
    x = rng.integers(-5, 5, (2, 3, 5, 5))
    x[rng.random(x.shape) < 0.5] = 0
    w_shape = (3, 4, 3, 3) if transposed else (4, 3, 3, 3)
    if transposed:
        wk = conv_transpose2d_work(x, w_shape, 2, 1)
    else:
        wk = conv2d_work(x, w_shape, 2, 1)
    per = taps_per_output(x, w_shape, 2, 1, transposed=transposed)
    assert per.shape[1] == 1 and int(per.sum()) * 4 == wk["effective"]
    assert int(taps_per_output(np.zeros_like(x), w_shape, 2, 1, transposed=transposed).sum()) == 0
