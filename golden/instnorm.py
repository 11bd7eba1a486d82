"""Instance normalisation split the ROLIN way, in exact fixed point.

Forward, per sample ``n`` and channel ``c`` over the ``M = H*W`` elements of
``x`` (fixed point with ``frac_x`` fraction bits):

1. **statistics** (store path of the producing layer): ``S1 = Σx``, ``S2 = Σx²``.
2. **parameters** (once per channel): ``D = M·S2 − S1² + eps_q·M²`` is ``M²``
   times the variance plus epsilon, an exact integer; its reciprocal square
   root comes from :func:`rsqrt_fixed`, ``1/sqrt(D) ≈ rs·2**-(RSQRT_Q+k)``.
   Then the scale ``a`` and the shift ``b`` with ``scale_frac`` extra fraction
   bits::

       a = shift_round(γ·M·rs,  RSQRT_Q + k + frac_gamma − frac_y − scale_frac)
       b = β·2**(frac_y + scale_frac − frac_gamma)
           − shift_round(γ·S1·rs, RSQRT_Q + k + frac_gamma − frac_y − scale_frac)

   (no division by ``M`` anywhere: ``M`` cancels).
3. **apply** (load path of the consuming layer):
   ``pre = requantize(a·x + b, scale_frac, width)``, then the activation and
   the ReLU mask, exactly as a core's output stage.

Backward, given ``dy`` (the error at the normalised pre-activation, after the
activation's backward), with ``x̂ = (x − μ)/σ`` recomputed from ``x``:

1. ``x̂ = shift_round((M·x − S1)·rs, RSQRT_Q + k − frac_xhat)``, saturated.
2. **statistics** (store path of the EP that produces ``dy``):
   ``T1 = Σdy``, ``T2 = Σdy·x̂``.
3. **coefficients** (once per channel) of ``dx = (γ/σ)(dy − mean(dy) − x̂·mean(dy·x̂))``::

       c1 =  shift_round(γ·rs·M,  RSQRT_Q + k + frac_gamma − frac_x − frac_dx + frac_dy − coef_frac)
       c2 = −shift_round(γ·rs·T2, RSQRT_Q + k + frac_gamma − frac_x + frac_dy + 2·frac_xhat − frac_dx − coef_frac)
       c3 = −shift_round(γ·rs·T1, RSQRT_Q + k + frac_gamma − frac_x + frac_dy − frac_dx − coef_frac)

   (``c2`` multiplies ``x̂``, so its product carries ``frac_xhat`` more bits).
4. **apply**: ``dx = requantize(c1·dy + c2·x̂ + c3, coef_frac, width)``.
5. ``dγ = Σ_n T2`` (fraction bits ``frac_dy + frac_xhat``) and ``dβ = Σ_n T1``
   (``frac_dy``).

Per-channel quantities are computed with Python integers (exact, unbounded);
the hardware parameter unit is sequential and sized by the widths below. Every
``shift_round`` is the round-half-up of :mod:`.fixed`; a negative shift is an
exact left shift. ``a`` and the ``c`` coefficients must fit ``IN_COEF_WIDTH``
bits and ``b``/``c3`` ``IN_OFFSET_WIDTH`` bits: a value that does not is an
error (``OverflowError`` here, an error status in the hardware), never a
silent saturation, because saturating a scale and its offset independently
would change the sign of the result.
"""

from collections import namedtuple

import numpy as np

from .fixed import as_int_array, int_range, requantize, activate, relu_mask, saturate

__all__ = [
    "RSQRT_BITS", "RSQRT_NORM_BITS", "RSQRT_Q", "IN_COEF_WIDTH", "IN_OFFSET_WIDTH",
    "INParams", "INBackwardCoefs", "rsqrt_fixed", "eps_to_fixed", "in_stats", "in_params",
    "in_apply", "in_xhat", "in_backward_stats", "in_backward_params", "in_backward_apply",
    "in_param_grads", "instance_norm_float", "instance_norm_float_backward", "in_backward_frac_dx",
]

#: Bits of the reciprocal-square-root mantissa: ``rs`` lies in ``[2**15, 2**16]``.
RSQRT_BITS = 16
#: ``D`` is normalised by an even shift into ``[2**(P-2), 2**P)`` with ``P = 32``.
RSQRT_NORM_BITS = 2 * RSQRT_BITS
#: ``1/sqrt(m) = rs · 2**-RSQRT_Q`` for the normalised ``m``.
RSQRT_Q = RSQRT_NORM_BITS // 2 + RSQRT_BITS - 1
#: Width of the per-channel scale ``a`` and of the backward coefficients ``c1``, ``c2``.
IN_COEF_WIDTH = 32
#: Width of the per-channel offsets ``b`` and ``c3``.
IN_OFFSET_WIDTH = 48

INParams = namedtuple("INParams", "a b rs k scale_frac")
INParams.__doc__ = "Per-(n, c) forward parameters: scale a, shift b, rsqrt mantissa rs and exponent k."
INBackwardCoefs = namedtuple("INBackwardCoefs", "c1 c2 c3 coef_frac")
INBackwardCoefs.__doc__ = "Per-(n, c) backward coefficients: dx = (c1·dy + c2·x̂ + c3) >> coef_frac."


def _sr(v, s):
    """Round-half-up shift of a Python int (negative ``s``: exact left shift)."""
    return (v + (1 << (s - 1))) >> s if s > 0 else v << -s


def _fit(v, width, what):
    """``v`` if it fits ``width`` signed bits, else ``OverflowError`` naming it."""
    lo, hi = int_range(width)
    if not lo <= v <= hi:
        raise OverflowError(f"instance norm: {what} = {v} does not fit {width} bits "
                            f"(a near-constant channel with a large gamma, or fraction bits too fine)")
    return v


def _isqrt(n):
    import math
    return math.isqrt(n)


def rsqrt_fixed(d):
    """Reciprocal square root of positive integers, the hardware's exact algorithm.

    For each ``D > 0``: ``k = ceil((bitlen(D) − P) / 2)`` with
    ``P = RSQRT_NORM_BITS``; ``m = D >> 2k`` (or ``D << −2k``), so
    ``m ∈ [2**(P−2), 2**P)``; ``rs = isqrt(2**(2·RSQRT_Q) // m)``, so
    ``rs ∈ [2**(RSQRT_BITS−1), 2**RSQRT_BITS]`` and
    ``1/sqrt(D) ≈ rs · 2**-(RSQRT_Q + k)``. ``rs`` is ``floor(2**RSQRT_Q/sqrt(m))``
    exactly (a divider and a digit-by-digit square root in hardware).
    Returns ``(rs, k)`` as int64 arrays of the shape of ``d``.
    """
    d = np.asarray(d, dtype=object)
    rs = np.empty(d.shape, dtype=np.int64)
    ks = np.empty(d.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(d):
        v = int(v)
        if v <= 0:
            raise ValueError(f"rsqrt_fixed: D must be positive, got {v}")
        k = -((RSQRT_NORM_BITS - v.bit_length()) // 2)   # ceil((bitlen - P) / 2)
        m = v >> (2 * k) if k >= 0 else v << (-2 * k)
        rs[idx] = _isqrt((1 << (2 * RSQRT_Q)) // m)
        ks[idx] = k
    return rs, ks


def eps_to_fixed(eps, frac_x):
    """Epsilon of the variance in units of ``2**(-2·frac_x)``, at least 1."""
    return max(1, int(np.floor(eps * 2.0 ** (2 * frac_x) + 0.5)))


def in_stats(x):
    """ROLIN statistics of an NCHW map: ``(S1, S2)``, each ``[N, C]`` int64 (Σx, Σx²)."""
    x = as_int_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW, got shape {x.shape}")
    return x.sum(axis=(2, 3)), (x * x).sum(axis=(2, 3))


def _per_channel(gamma, n, c, name):
    g = as_int_array(gamma, name)
    if g.shape != (c,):
        raise ValueError(f"{name} must have shape ({c},), got {g.shape}")
    return np.broadcast_to(g, (n, c))


def in_params(s1, s2, count, gamma, beta, *, frac_x, frac_y, frac_gamma, eps_q, scale_frac=16):
    """Per-(n, c) scale/shift from the statistics (see the module docstring).

    ``count`` is ``M = H*W``; ``gamma``/``beta`` are ``[C]`` integers with
    ``frac_gamma`` fraction bits; ``eps_q`` is epsilon in units of
    ``2**(-2·frac_x)`` (see :func:`eps_to_fixed`). Returns :class:`INParams`.
    """
    s1, s2 = as_int_array(s1, "s1"), as_int_array(s2, "s2")
    n, c = s1.shape
    if int(count) < 1 or int(eps_q) < 1:
        raise ValueError("in_params: count and eps_q must be >= 1")
    if frac_y + scale_frac - frac_gamma < 0:
        raise ValueError("in_params: frac_y + scale_frac must be >= frac_gamma")
    m = int(count)
    g = _per_channel(gamma, n, c, "gamma")
    bt = _per_channel(beta, n, c, "beta")
    d = np.empty((n, c), dtype=object)
    for idx in np.ndindex(n, c):
        d[idx] = m * int(s2[idx]) - int(s1[idx]) ** 2 + int(eps_q) * m * m
    rs, k = rsqrt_fixed(d)
    a = np.empty((n, c), dtype=np.int64)
    b = np.empty((n, c), dtype=np.int64)
    for idx in np.ndindex(n, c):
        gi, ri, ki = int(g[idx]), int(rs[idx]), int(k[idx])
        a[idx] = _fit(_sr(gi * m * ri, RSQRT_Q + ki + frac_gamma - frac_y - scale_frac),
                      IN_COEF_WIDTH, "scale a")
        off = (int(bt[idx]) << (frac_y + scale_frac - frac_gamma)) \
            - _sr(gi * int(s1[idx]) * ri, RSQRT_Q + ki + frac_gamma - frac_y - scale_frac)
        b[idx] = _fit(off, IN_OFFSET_WIDTH, "shift b")
    return INParams(a, b, rs, k, int(scale_frac))


def in_apply(x, params, width=16, activation="identity", slope_shift=2):
    """Normalise (+ activate) on the load path: ``(y, mask)`` as the output stage returns them."""
    x = as_int_array(x, "x")
    a = params.a[:, :, None, None]
    b = params.b[:, :, None, None]
    pre = requantize(a * x + b, params.scale_frac, width)
    return activate(pre, activation, slope_shift), relu_mask(pre)


def in_xhat(x, s1, count, rs, k, frac_xhat, width=16):
    """Recompute the normalised ``x̂`` with ``frac_xhat`` fraction bits, saturated to ``width``."""
    x = as_int_array(x, "x")
    m = int(count)
    centred = m * x - as_int_array(s1, "s1")[:, :, None, None]
    prod = centred * as_int_array(rs, "rs")[:, :, None, None]
    shift = (RSQRT_Q + as_int_array(k, "k") - frac_xhat)[:, :, None, None]
    from .fixed import shift_round
    return saturate(shift_round(prod, np.broadcast_to(shift, prod.shape)), width)


def in_backward_stats(dy, xhat):
    """ROLIN backward statistics: ``(T1, T2)`` = ``(Σdy, Σdy·x̂)`` per (n, c)."""
    dy, xhat = as_int_array(dy, "dy"), as_int_array(xhat, "xhat")
    if dy.shape != xhat.shape:
        raise ValueError(f"dy shape {dy.shape} does not match x̂ shape {xhat.shape}")
    return dy.sum(axis=(2, 3)), (dy * xhat).sum(axis=(2, 3))


def in_backward_params(t1, t2, count, gamma, rs, k, *, frac_x, frac_dy, frac_dx, frac_gamma,
                       frac_xhat, coef_frac=16):
    """Per-(n, c) backward coefficients ``c1, c2, c3`` (see the module docstring)."""
    t1, t2 = as_int_array(t1, "t1"), as_int_array(t2, "t2")
    n, c = t1.shape
    g = _per_channel(gamma, n, c, "gamma")
    m = int(count)
    c1 = np.empty((n, c), dtype=np.int64)
    c2 = np.empty((n, c), dtype=np.int64)
    c3 = np.empty((n, c), dtype=np.int64)
    base = frac_gamma - frac_x - coef_frac - frac_dx
    for idx in np.ndindex(n, c):
        gr = int(g[idx]) * int(rs[idx])
        sh = RSQRT_Q + int(k[idx]) + base
        c1[idx] = _fit(_sr(gr * m, sh + frac_dy), IN_COEF_WIDTH, "coefficient c1")
        c2[idx] = _fit(-_sr(gr * int(t2[idx]), sh + frac_dy + 2 * frac_xhat), IN_COEF_WIDTH,
                       "coefficient c2")
        c3[idx] = _fit(-_sr(gr * int(t1[idx]), sh + frac_dy), IN_OFFSET_WIDTH, "coefficient c3")
    return INBackwardCoefs(c1, c2, c3, int(coef_frac))


def in_backward_apply(dy, xhat, coefs, width=16):
    """The per-element IN-backward correction: ``requantize(c1·dy + c2·x̂ + c3, coef_frac, width)``."""
    dy, xhat = as_int_array(dy, "dy"), as_int_array(xhat, "xhat")
    acc = coefs.c1[:, :, None, None] * dy + coefs.c2[:, :, None, None] * xhat + coefs.c3[:, :, None, None]
    return requantize(acc, coefs.coef_frac, width)


def in_backward_frac_dx(dpre, xhat, t1, t2, count, gamma, rs, k, *, frac_x, frac_dy, frac_gamma,
                        frac_xhat, width=16, coef_frac=16):
    """Fraction bits of ``dx`` as the training step chooses them (:class:`.nn.InstanceNormReLU`).

    A trial at ``frac_dx = frac_dy`` gives the largest ``|dx|``; the result is
    the finest count that leaves one bit of headroom in ``width`` bits. The
    host runs this between the statistics and the parameter unit (it needs
    only ``T1``, ``T2`` and the trial's maximum), so the hardware flow and the
    golden training step use the same ``frac_dx``.
    """
    c = in_backward_params(t1, t2, count, gamma, rs, k, frac_x=frac_x, frac_dy=frac_dy,
                           frac_dx=frac_dy, frac_gamma=frac_gamma, frac_xhat=frac_xhat,
                           coef_frac=coef_frac)
    dpre, xhat = as_int_array(dpre, "dpre"), as_int_array(xhat, "xhat")
    acc = c.c1[:, :, None, None] * dpre + c.c2[:, :, None, None] * xhat + c.c3[:, :, None, None]
    from .fixed import shift_round
    bits = int(np.max(np.abs(shift_round(acc, c.coef_frac)))).bit_length()
    return frac_dy + (width - 2 - bits)


def in_param_grads(t1, t2):
    """``(dγ, dβ)`` per channel from the backward statistics: ``(Σ_n T2, Σ_n T1)``."""
    return as_int_array(t2).sum(axis=0), as_int_array(t1).sum(axis=0)


def instance_norm_float(x, gamma, beta, eps=1e-5):
    """Float reference: ``γ·(x − μ)/sqrt(var + ε) + β`` per (n, c). Returns ``(y, x̂, σ)``."""
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=(2, 3), keepdims=True)
    sigma = np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps)
    xhat = (x - mu) / sigma
    return gamma[None, :, None, None] * xhat + beta[None, :, None, None], xhat, sigma


def instance_norm_float_backward(dy, xhat, sigma, gamma):
    """Float reference backward: ``(dx, dγ, dβ)``."""
    dy = np.asarray(dy, dtype=np.float64)
    mdy = dy.mean(axis=(2, 3), keepdims=True)
    mdyx = (dy * xhat).mean(axis=(2, 3), keepdims=True)
    dx = gamma[None, :, None, None] / sigma * (dy - mdy - xhat * mdyx)
    return dx, (dy * xhat).sum(axis=(0, 2, 3)), dy.sum(axis=(0, 2, 3))
