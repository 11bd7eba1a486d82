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

Knobs: ``mantissa_bits`` (0–15), ``margin`` (accumulator units), ``acc_width``.

What EORS does to a ReLU layer's FP (:func:`eors_apply`, :func:`eors_fp`):

4. Where the prediction says *compute*, the output is the exact output of the
   output stage (requantise, ReLU) and its mask bit is the exact ``pre > 0``.
   Where it says *predicted ≤ 0*, the output is 0 and the mask bit is 0,
   whatever the true value. The ReLU mask written for EP (and used by the
   backward pass) is this final mask. The output stage's shift is the layer's
   own, chosen as without EORS.
5. A *false zero* is an output predicted ≤ 0 whose true ReLU mask is 1 (the
   true requantised pre-activation is > 0): an approximation error. A *missed
   zero* is an output whose true mask is 0 but which was computed anyway: lost
   speed, no error. :func:`eors_counts` counts them, :func:`eors_rates` turns
   the counts into rates (denominators in its docstring).

In training (:class:`EorsKnobs`, ``ConvLayer(eors=...)``,
``train_dcgan(eors=...)``) the margin is given in LSBs of the layer's
requantised output, ``margin = margin_lsb · 2**shift`` accumulator units,
because the accumulator's scale changes with the fraction bits every step.
"""

from dataclasses import dataclass

import numpy as np

from .conv import conv2d, conv_transpose2d
from .fixed import as_int_array, int_range, output_stage

__all__ = ["eors_operand", "eors_estimate", "eors_predict", "eors_apply", "eors_fp",
           "eors_counts", "eors_rates", "EorsKnobs"]


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


def eors_apply(y, mask, predicted_zero):
    """The FP output and ReLU mask with EORS on: ``(y', mask')``.

    ``y`` and ``mask`` are the exact output-stage result of a ReLU layer;
    ``predicted_zero`` is :func:`eors_predict`'s map. Where it is True the
    output is 0 and the mask bit 0 (the computation was skipped); elsewhere
    both are unchanged. ``mask'`` is the mask EP uses.
    """
    y = as_int_array(y, "y")
    mask = np.asarray(mask, dtype=bool)
    pred = np.asarray(predicted_zero, dtype=bool)
    if not (y.shape == mask.shape == pred.shape):
        raise ValueError(f"eors_apply: shapes differ: y {y.shape}, mask {mask.shape}, "
                         f"predicted_zero {pred.shape}")
    return np.where(pred, 0, y), mask & ~pred


def eors_fp(x, w, bias=None, stride=1, padding=0, shift=0, *, op="conv", output_padding=0,
            width=16, mantissa_bits=0, margin=0, acc_width=None):
    """FP of a ReLU layer with EORS on, bit for bit: ``(y, mask, predicted_zero)``.

    The exact accumulator goes through :func:`~.fixed.output_stage` with
    ``shift`` and ReLU, then :func:`eors_apply` with :func:`eors_predict`'s map.
    This is what the hardware's speculation unit, core and output stage
    together must produce (the hardware computes only the outputs not
    predicted zero; the result is the same).
    """
    pred = eors_predict(x, w, bias, stride, padding, op=op, output_padding=output_padding,
                        mantissa_bits=mantissa_bits, margin=margin, acc_width=acc_width)
    x, w = as_int_array(x, "x"), as_int_array(w, "w")
    if op == "conv":
        acc = conv2d(x, w, stride, padding)
    else:
        acc = conv_transpose2d(x, w, stride, padding, output_padding)
    y, mask = output_stage(acc, shift, width, "relu", bias=bias)
    y, mask = eors_apply(y, mask, pred)
    return y, mask, pred


def eors_counts(predicted_zero, true_mask):
    """Integer counts of a prediction against the true ReLU mask (``pre > 0``).

    Returns ``{outputs, true_zero, predicted_zero, false_zero, missed_zero,
    caught_zero}``: all outputs; outputs with true mask 0; outputs predicted
    ≤ 0; predicted ≤ 0 with true mask 1 (errors); true mask 0 but not
    predicted (computed anyway); true mask 0 and predicted (the useful skips).
    ``predicted_zero = caught_zero + false_zero`` and
    ``true_zero = caught_zero + missed_zero``.
    """
    pred = np.asarray(predicted_zero, dtype=bool)
    mask = np.asarray(true_mask, dtype=bool)
    if pred.shape != mask.shape:
        raise ValueError(f"eors_counts: predicted_zero {pred.shape} and true_mask {mask.shape} differ")
    zero = ~mask
    return {"outputs": int(pred.size), "true_zero": int(zero.sum()),
            "predicted_zero": int(pred.sum()), "false_zero": int((pred & mask).sum()),
            "missed_zero": int((~pred & zero).sum()), "caught_zero": int((pred & zero).sum())}


def _ratio(num, den):
    return None if den == 0 else num / den


def eors_rates(predicted_zero=None, true_mask=None, *, counts=None):
    """Rates of a prediction against the true ReLU mask (or of ``counts`` from :func:`eors_counts`).

    The four headline rates have one denominator, **all outputs** of the layer:

    * ``true_zero_rate``: outputs whose true mask is 0 (requantised pre ≤ 0);
    * ``predicted_zero_rate``: outputs predicted ≤ 0 (skipped);
    * ``false_zero_rate``: predicted ≤ 0 but true mask 1 (the error; bar ≤ 1 %);
    * ``missed_zero_rate``: true mask 0 but not predicted (computed anyway).

    Other denominators, for reading the same counts differently (None when
    the denominator is 0):

    * ``false_zero_of_predicted``: false zeros ÷ predicted zeros (the share of
      skipped outputs that were wrong);
    * ``false_zero_of_positive``: false zeros ÷ outputs with true mask 1 (the
      share of real positive outputs lost);
    * ``caught_zero_fraction``: caught zeros ÷ true zeros (the share of the
      true zeros the speculation catches; ``1 − missed_zero_of_true_zero``);
    * ``missed_zero_of_true_zero``: missed zeros ÷ true zeros.
    """
    c = counts if counts is not None else eors_counts(predicted_zero, true_mask)
    n, tz = c["outputs"], c["true_zero"]
    return {"true_zero_rate": _ratio(tz, n),
            "predicted_zero_rate": _ratio(c["predicted_zero"], n),
            "false_zero_rate": _ratio(c["false_zero"], n),
            "missed_zero_rate": _ratio(c["missed_zero"], n),
            "false_zero_of_predicted": _ratio(c["false_zero"], c["predicted_zero"]),
            "false_zero_of_positive": _ratio(c["false_zero"], n - tz),
            "caught_zero_fraction": _ratio(c["caught_zero"], tz),
            "missed_zero_of_true_zero": _ratio(c["missed_zero"], tz)}


@dataclass(frozen=True)
class EorsKnobs:
    """EORS settings for training: ``mantissa_bits`` and the margin in output LSBs.

    A layer whose output stage shifts right by ``shift`` compares its estimate
    with ``−margin(shift) = −margin_lsb · 2**shift`` accumulator units, i.e.
    ``margin_lsb`` LSBs of its requantised output.
    """

    mantissa_bits: int = 2
    margin_lsb: int = 0

    def __post_init__(self):
        if not 0 <= int(self.mantissa_bits) <= 15:
            raise ValueError(f"mantissa_bits must be in 0..15, got {self.mantissa_bits}")
        if int(self.margin_lsb) < 0:
            raise ValueError(f"margin_lsb must be >= 0, got {self.margin_lsb}")

    def margin(self, shift):
        """The margin in accumulator units for an output-stage shift of ``shift``."""
        return int(self.margin_lsb) << int(shift)
