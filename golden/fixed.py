"""Fixed-point arithmetic of the accelerator: the single written definition.

Every rounding and saturation rule the hardware implements is defined here,
once, and the RTL matches it bit for bit.

* Values are signed two's-complement integers of ``width`` bits (the
  configuration's ``data_width``) with a fraction-bit count per tensor.
* :func:`shift_round` is the one rounding rule: an arithmetic shift right with
  round-half-up (``(v + 2**(s-1)) >> s``). A negative shift is an exact left
  shift.
* :func:`saturate` clips to the ``width``-bit signed range.
* :func:`requantize` = :func:`saturate` ∘ :func:`shift_round`: what the output
  stage does to an accumulator.
* Activations act on requantised values: identity, ReLU, and LeakyReLU with a
  slope of ``2**-k`` whose negative branch is ``shift_round(x, k)``.
* The ReLU mask is ``pre > 0`` on the requantised pre-activation; it is the
  exact output-sparsity mask of the EP that follows.
"""

import numpy as np

__all__ = [
    "ACTIVATIONS", "as_int_array", "shift_round", "saturate", "quantize",
    "dequantize", "requantize", "relu", "leaky_relu", "relu_mask", "activate",
    "activation_backward", "output_stage", "int_range",
]

#: Activation names, with the code the hardware descriptor uses for each.
ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2}


def int_range(width):
    """Return ``(lo, hi)``, the inclusive range of a ``width``-bit signed integer."""
    if not isinstance(width, (int, np.integer)) or width < 2 or width > 63:
        raise ValueError(f"width must be an integer between 2 and 63, got {width!r}")
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def as_int_array(x, name="x"):
    """Return ``x`` as an int64 array, refusing values that are not integers."""
    a = np.asarray(x)
    if a.dtype == np.bool_:
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.integer):
        if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
            raise OverflowError(f"{name} has values beyond int64")
        return a.astype(np.int64, copy=False)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
            raise TypeError(f"{name} must hold integers (fixed-point codes), got non-integer values")
        if a.size and np.abs(a).max() >= 2.0**62:
            raise OverflowError(f"{name} has values beyond the int64 range")
        return a.astype(np.int64)
    raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")


def shift_round(v, shift):
    """Arithmetic shift right by ``shift`` with round-half-up.

    ``floor((v + 2**(s-1)) / 2**s)``, computed as ``(v >> s) + bit s-1 of v``
    so that it never overflows (the hardware does the same: the rounding bit
    is the last bit shifted out). ``shift`` may be an integer or an integer
    array broadcast against ``v`` (per-channel shifts); ``shift <= 0`` is an
    exact left shift by ``-shift``. Returns int64.
    """
    v = as_int_array(v, "v")
    s = np.asarray(shift, dtype=np.int64)
    if s.ndim == 0:
        s = int(s)
        if s > 0:
            return (v >> s) + ((v >> (s - 1)) & 1)
        return v << (-s)
    pos = np.maximum(s, 0)
    rounded = (v >> pos) + ((v >> np.maximum(s - 1, 0)) & 1)
    return np.where(s > 0, rounded, v << np.maximum(-s, 0))


def saturate(v, width):
    """Clip ``v`` to the ``width``-bit signed range. Returns int64."""
    lo, hi = int_range(width)
    return np.clip(as_int_array(v, "v"), lo, hi)


def quantize(x_float, frac_bits, width=16):
    """Float to fixed point: ``saturate(floor(x * 2**frac_bits + 0.5), width)``."""
    x = np.asarray(x_float, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("quantize: input holds NaN or infinity")
    lo, hi = int_range(width)
    scaled = np.ldexp(x, int(frac_bits))
    low = np.floor(scaled)
    rounded = low + (scaled - low >= 0.5)          # exact: no float addition that could round
    return np.clip(rounded, lo, hi).astype(np.int64)


def dequantize(q, frac_bits):
    """Fixed point to float64: ``q * 2**-frac_bits`` (exact)."""
    return np.ldexp(as_int_array(q, "q").astype(np.float64), -int(frac_bits))


def requantize(acc, shift, width=16):
    """Output-stage requantisation: ``saturate(shift_round(acc, shift), width)``.

    ``shift`` is the number of fraction bits dropped, ``0 <= shift <= 62``.
    """
    s = np.asarray(shift)
    if s.size and (s.min() < 0 or s.max() > 62):
        raise ValueError(f"requantize: shift must be in 0..62, got {shift!r}")
    return saturate(shift_round(acc, shift), width)


def relu(x):
    """``max(x, 0)`` on integers."""
    x = as_int_array(x)
    return np.where(x > 0, x, 0)


def leaky_relu(x, slope_shift):
    """LeakyReLU with slope ``2**-slope_shift``: ``x`` if ``x > 0`` else ``shift_round(x, slope_shift)``."""
    x = as_int_array(x)
    if not 0 <= int(slope_shift) <= 15:
        raise ValueError(f"slope_shift must be in 0..15, got {slope_shift!r}")
    return np.where(x > 0, x, shift_round(x, int(slope_shift)))


def relu_mask(pre):
    """The ReLU mask: one bit per element, ``pre > 0``."""
    return as_int_array(pre) > 0


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")


def activate(pre, activation="identity", slope_shift=2):
    """Apply an activation (by name) to requantised values."""
    _check_activation(activation)
    if activation == "relu":
        return relu(pre)
    if activation == "leaky_relu":
        return leaky_relu(pre, slope_shift)
    return as_int_array(pre)


def activation_backward(dy, mask, activation="identity", slope_shift=2):
    """Error through an activation, given the ReLU mask written in FP.

    ReLU: ``dy`` where the mask is set, else 0 (the exact output sparsity of
    EP). LeakyReLU: ``dy`` where set, else ``shift_round(dy, slope_shift)``.
    Identity: ``dy``.
    """
    _check_activation(activation)
    dy = as_int_array(dy, "dy")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != dy.shape:
        raise ValueError(f"mask shape {mask.shape} does not match dy shape {dy.shape}")
    if activation == "relu":
        return np.where(mask, dy, 0)
    if activation == "leaky_relu":
        return np.where(mask, dy, shift_round(dy, int(slope_shift)))
    return dy


def output_stage(acc, shift, width=16, activation="identity", slope_shift=2, bias=None):
    """What a core does to each accumulator before it leaves: the exact rule.

    ``pre = requantize(acc + bias[c], shift, width)``; ``y = activate(pre)``;
    ``mask = pre > 0``. ``acc`` is NCHW; ``bias`` (optional, one value per
    channel, already in the accumulator's fraction bits) is added first.
    Returns ``(y, mask)``.
    """
    acc = as_int_array(acc, "acc")
    if bias is not None:
        b = as_int_array(bias, "bias")
        if b.shape != (acc.shape[1],):
            raise ValueError(f"bias must have shape ({acc.shape[1]},), got {b.shape}")
        acc = acc + b.reshape(1, -1, *([1] * (acc.ndim - 2)))
    pre = requantize(acc, shift, width)
    return activate(pre, activation, slope_shift), relu_mask(pre)
