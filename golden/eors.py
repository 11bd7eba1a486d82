"""EORS: exponent-only ReLU speculation (GANPU), the exact rule.

Before a ReLU layer's full FP, a cheap pass predicts which pre-activations
will be ≤ 0, so their full-precision computation can be skipped.

The rule, bit for bit:

1. Every operand ``v`` (input activation and weight) is reduced to its sign and
   its leading one plus ``mantissa_bits`` further bits, truncated:
   ``ṽ = sign(v) · (|v| & ~(2**(e − mantissa_bits) − 1))`` with
   ``e = bitlen(|v|) − 1`` the leading-one position (bits below position 0
   are kept, so small values are exact). With ``mantissa_bits = 0`` every
   product is ``±2**(e(x) + e(w))``: a shifter, no multiplier.
2. The estimate of each output is the exact sum of ``x̃·w̃`` over the same
   taps the real convolution uses (zero inputs contribute nothing) plus the
   exact bias (accumulator units), accumulated in ``acc_width`` bits; an
   estimate that does not fit is refused (``OverflowError``), because the
   hardware's accumulator is sized never to wrap.
3. An output is predicted zero when ``estimate ≤ −margin`` (``margin ≥ 0``
   makes the speculation more conservative).

Knobs: ``mantissa_bits`` (0–3), ``margin`` (accumulator units), ``acc_width``.
"""

import numpy as np

from .conv import conv2d, conv_transpose2d
from .fixed import as_int_array, int_range

__all__ = ["eors_operand", "eors_estimate", "eors_predict"]


def eors_operand(v, mantissa_bits=0):
    """Sign and leading ``1 + mantissa_bits`` bits of each integer, truncated (see module doc)."""
    v = as_int_array(v, "v")
    if not 0 <= int(mantissa_bits) <= 15:
        raise ValueError(f"mantissa_bits must be in 0..15, got {mantissa_bits}")
    mag = np.abs(v)
    if mag.size and int(mag.max()) >= 1 << 53:
        raise OverflowError("eors_operand: operands must be below 2**53 in magnitude")
    _, bitlen = np.frexp(mag.astype(np.float64))          # the bit length, exact below 2**53
    drop = np.maximum(bitlen.astype(np.int64) - 1 - int(mantissa_bits), 0)
    kept = (mag >> drop) << drop
    return np.sign(v) * kept


def eors_estimate(x, w, bias=None, stride=1, padding=0, *, op="conv", output_padding=0,
                  mantissa_bits=0, acc_width=None):
    """The speculation sum of each output (int64, NCHW), before the comparison.

    ``op`` is ``"conv"`` (``w`` is ``[C_out, C_in, K, K]``) or
    ``"conv_transpose"`` (``w`` is ``[C_in, C_out, K, K]``).
    """
    xt = eors_operand(x, mantissa_bits)
    wt = eors_operand(w, mantissa_bits)
    if op == "conv":
        est = conv2d(xt, wt, stride, padding)
    elif op == "conv_transpose":
        est = conv_transpose2d(xt, wt, stride, padding, output_padding)
    else:
        raise ValueError(f"eors: op must be 'conv' or 'conv_transpose', got {op!r}")
    if bias is not None:
        b = as_int_array(bias, "bias")
        if b.shape != (est.shape[1],):
            raise ValueError(f"bias must have shape ({est.shape[1]},), got {b.shape}")
        est = est + b[None, :, None, None]
    if acc_width is not None:
        lo, hi = int_range(int(acc_width))
        if est.size and (est.min() < lo or est.max() > hi):
            raise OverflowError(f"EORS estimate does not fit acc_width={acc_width}")
    return est


def eors_predict(x, w, bias=None, stride=1, padding=0, *, op="conv", output_padding=0,
                 mantissa_bits=0, margin=0, acc_width=None):
    """Boolean NCHW map: True where the output is predicted ≤ 0 (its computation is skipped)."""
    if int(margin) < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    est = eors_estimate(x, w, bias, stride, padding, op=op, output_padding=output_padding,
                        mantissa_bits=mantissa_bits, acc_width=acc_width)
    return est <= -int(margin)
