"""The accelerator's tanh/loss unit and its reciprocal square root, in exact integers.

Everything here is integer in, integer out, with fixed fraction bits, written
once so that the RTL can match it bit for bit. Rounding is the
:func:`~.fixed.shift_round` of :mod:`.fixed` (round half up) everywhere.

* :func:`tanh_fixed` — a piecewise-linear ``tanh`` from a 257-entry table
  (:data:`TANH_TABLE`, segments of 1/32 on ``[0, 8)``), odd-symmetric; the
  output has :data:`TANH_FRAC` = 14 fraction bits.
* :func:`tanh_grad_fixed` — ``1 − y²`` from the unit's own output ``y``.
* :func:`sigmoid_fixed` — ``σ(x) = (1 + tanh(x/2))/2`` through the same table;
  :data:`SIGMOID_FRAC` = 15 fraction bits, no further rounding.
* :func:`logistic_loss_grad` — ``(σ(logit) − label)/N`` of the mean logistic
  loss; :func:`l1_loss_grad` — ``sign(out − clean)·(1 − out²)/N`` of the mean
  L1 loss behind a ``tanh``. Both divide by ``N`` with :func:`reciprocal`.
* :func:`rsqrt_vec` — :func:`~.instnorm.rsqrt_fixed`'s algorithm on int64
  arrays (the optimizer's per-element unit).
"""

import math

import numpy as np

from .fixed import as_int_array, saturate, shift_round
from .instnorm import RSQRT_NORM_BITS, RSQRT_Q

__all__ = ["TANH_FRAC", "TANH_IN_FRAC", "TANH_SEG_BITS", "TANH_RANGE", "TANH_TABLE",
           "SIGMOID_FRAC", "TANH_MAX_ERROR", "SIGMOID_MAX_ERROR", "tanh_fixed",
           "tanh_grad_fixed", "sigmoid_fixed", "reciprocal", "logistic_loss_grad",
           "l1_loss_grad", "rsqrt_vec", "isqrt_vec"]

#: Fraction bits of the tanh unit's output (and of images: ``1.0 = 2**14``).
TANH_FRAC = 14
#: The input magnitude is first aligned to this many fraction bits.
TANH_IN_FRAC = 13
#: Fraction bits of the segment index: segments of ``2**-TANH_SEG_BITS`` = 1/32.
TANH_SEG_BITS = 5
#: The table covers ``[0, TANH_RANGE)``; beyond it the output is the last entry, 1.0.
TANH_RANGE = 8
#: ``TANH_TABLE[i] = round(tanh(i / 32) · 2**14)`` for ``i = 0 .. 256`` (257 entries, ≤ 15 bits).
TANH_TABLE = np.array([int(math.floor(math.tanh(i / (1 << TANH_SEG_BITS)) * (1 << TANH_FRAC) + 0.5))
                       for i in range(TANH_RANGE * (1 << TANH_SEG_BITS) + 1)], dtype=np.int64)
#: Fraction bits of σ's output.
SIGMOID_FRAC = 15
#: Largest |tanh_fixed − tanh| over every 16-bit input at any fraction count (measured by the tests).
TANH_MAX_ERROR = 2.0e-4
#: Largest |sigmoid_fixed − σ| (half of tanh's, plus nothing: σ adds no rounding).
SIGMOID_MAX_ERROR = 1.0e-4

_REM_BITS = TANH_IN_FRAC - TANH_SEG_BITS          # bits of the position inside a segment
_U_MAX = TANH_RANGE << TANH_IN_FRAC               # |x| at or beyond 8.0 gives 1.0


def _check_frac(frac, name="frac"):
    if not isinstance(frac, (int, np.integer)) or not -64 < int(frac) < 64:
        raise ValueError(f"{name} must be an integer fraction-bit count in -63..63, got {frac!r}")
    return int(frac)


def tanh_fixed(x, frac):
    """``tanh`` of fixed-point ``x`` (``frac`` fraction bits) with :data:`TANH_FRAC` = 14.

    1. ``u = shift_round(|x|, frac − 13)`` (an exact left shift when ``frac < 13``),
       clamped to ``8·2**13``;
    2. ``i = u >> 8``, ``r = u & 255`` (segment and position, segments of 1/32);
    3. ``t = T[i] + shift_round((T[i+1] − T[i])·r, 8)`` with ``T`` = :data:`TANH_TABLE`
       (``u = 8·2**13`` gives ``T[256]`` = 16384, i.e. 1.0);
    4. the result is ``t`` with the sign of ``x`` (exactly odd).

    Error against ``tanh`` below :data:`TANH_MAX_ERROR`. Returns int64 in ``[-2**14, 2**14]``.
    """
    frac = _check_frac(frac)
    q = as_int_array(x, "x")
    mag = np.abs(q)
    if frac >= TANH_IN_FRAC:
        u = shift_round(mag, frac - TANH_IN_FRAC)
    else:                                       # left shift, clamped before it could overflow
        lim = _U_MAX >> (TANH_IN_FRAC - frac)
        u = np.minimum(mag, lim + 1) << (TANH_IN_FRAC - frac)
    u = np.minimum(u, _U_MAX)
    i = u >> _REM_BITS
    r = u & ((1 << _REM_BITS) - 1)
    lo = TANH_TABLE[i]
    hi = TANH_TABLE[np.minimum(i + 1, len(TANH_TABLE) - 1)]
    t = lo + shift_round((hi - lo) * r, _REM_BITS)
    return np.where(q < 0, -t, t)


def tanh_grad_fixed(y):
    """``1 − y²`` of a tanh output ``y`` (14 fraction bits): ``2**14 − shift_round(y², 14)``.

    The result has 14 fraction bits and lies in ``[0, 2**14]``.
    """
    y = as_int_array(y, "y")
    return (1 << TANH_FRAC) - shift_round(y * y, TANH_FRAC)


def sigmoid_fixed(x, frac):
    """``σ(x) = 1/(1 + e**−x)`` of fixed-point ``x`` with :data:`SIGMOID_FRAC` = 15.

    ``σ(x) = (1 + tanh(x/2))/2``: the same integers read with ``frac + 1`` fraction
    bits are ``x/2``, so ``σ = 2**14 + tanh_fixed(x, frac + 1)`` at 15 fraction bits,
    exactly. Returns int64 in ``[0, 2**15]``.
    """
    frac = _check_frac(frac)
    return (1 << TANH_FRAC) + tanh_fixed(x, frac + 1)


def reciprocal(n):
    """``1/n`` as ``(recip, p)``: ``p = floor(log2 n)``, ``recip = round(2**(16+p)/n)``.

    ``recip ∈ (2**15, 2**16]``; ``v·recip >> 16`` read with ``p`` more fraction bits
    is ``v/n`` (exact when ``n`` is a power of two). A constant of the program.
    """
    if not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise ValueError(f"n must be a positive integer (the element count), got {n!r}")
    n = int(n)
    p = n.bit_length() - 1
    return ((1 << (17 + p)) // n + 1) >> 1, p


def _divide(v, n, width):
    """``v/n`` by :func:`reciprocal`: ``saturate(shift_round(v·recip, 16), width)``, frac + p."""
    recip, p = reciprocal(n)
    return saturate(shift_round(as_int_array(v, "v") * recip, 16), width), p


def logistic_loss_grad(logit, frac, label, n=None, width=16):
    """Gradient of the mean logistic loss at the logits: ``(σ(logit) − label)/N``.

    ``logit``: integers with ``frac`` fraction bits. ``label``: integer labels with
    15 fraction bits (``round(label·2**15)``; one value or one per logit). ``n``: the
    divisor ``N`` (default ``logit.size``). Returns ``(g, frac_g)``: ``g =
    saturate(shift_round((σ − label)·recip, 16), width)`` with ``frac_g = 15 + p``
    (:func:`reciprocal`).
    """
    logit = as_int_array(logit, "logit")
    lab = as_int_array(label, "label")
    if lab.size and (lab.min() < 0 or lab.max() > (1 << SIGMOID_FRAC)):
        raise ValueError(f"label must be in 0..2**15 (15 fraction bits), got {lab.min()}..{lab.max()}")
    n = logit.size if n is None else n
    g, p = _divide(sigmoid_fixed(logit, frac) - lab, n, width)
    return g, SIGMOID_FRAC + p


def l1_loss_grad(out, clean, n=None, width=16):
    """Gradient of the mean L1 loss ``mean|tanh(pre) − clean|`` at ``pre``.

    ``out`` (the tanh unit's output) and ``clean`` have 14 fraction bits. The
    gradient is ``sign(out − clean)·(1 − out²)/N``: ``v = sign·tanh_grad_fixed(out)``
    (14 fraction bits), then ``saturate(shift_round(v·recip, 16), width)``. ``n``:
    the divisor (default ``out.size``). Returns ``(g, 14 + p)``.
    """
    out, clean = as_int_array(out, "out"), as_int_array(clean, "clean")
    if out.shape != clean.shape:
        raise ValueError(f"clean shape {clean.shape} does not match out shape {out.shape}")
    n = out.size if n is None else n
    g, p = _divide(np.sign(out - clean) * tanh_grad_fixed(out), n, width)
    return g, TANH_FRAC + p


def isqrt_vec(q):
    """``floor(sqrt(q))`` of non-negative int64 ``q < 2**62``, exactly (float guess, integer fix)."""
    q = as_int_array(q, "q")
    if q.size and q.min() < 0:
        raise ValueError("isqrt_vec: q must be non-negative")
    s = np.floor(np.sqrt(q.astype(np.float64))).astype(np.int64)
    for _ in range(2):
        s = s - (s * s > q)
        s = s + ((s + 1) * (s + 1) <= q)
    return s


def rsqrt_vec(d):
    """:func:`~.instnorm.rsqrt_fixed` on an int64 array ``d > 0`` (``d < 2**62``): ``(rs, k)``.

    ``k = ceil((bitlen(d) − 32)/2)``, ``m = d >> 2k`` (or ``<< −2k``) in ``[2**30, 2**32)``,
    ``rs = isqrt(2**62 // m)``; ``1/sqrt(d) ≈ rs·2**-(31 + k)``.
    """
    d = as_int_array(d, "d")
    if d.size and d.min() <= 0:
        raise ValueError("rsqrt_vec: d must be positive")
    bl = np.zeros(d.shape, dtype=np.int64)
    v = d.copy()
    for b in (32, 16, 8, 4, 2, 1):                 # bit length by binary search
        big = v >= (1 << b)
        bl = bl + np.where(big, b, 0)
        v = np.where(big, v >> b, v)
    bl = bl + (v > 0)
    k = -((RSQRT_NORM_BITS - bl) // 2)
    m = np.where(k >= 0, d >> np.maximum(2 * k, 0), d << np.maximum(-2 * k, 0))
    return isqrt_vec((1 << (2 * RSQRT_Q)) // m), k
