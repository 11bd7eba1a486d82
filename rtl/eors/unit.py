"""EORS speculation unit: exponent-only ReLU speculation beside a sparse core.

Before a ReLU layer's FP, :class:`EorsUnit` computes for every output the
estimate of :func:`ganforge.golden.eors.eors_estimate` and predicts the
outputs that will be ≤ 0 (:func:`ganforge.golden.eors.eors_predict`, bit for
bit). The core then runs the layer with the prediction as its output mask
(``skip_mask = mask_out = 1``): it never issues the taps of a predicted zero
and drains it as 0 with ReLU mask 0, which is what EORS does to the layer.

Structure. The unit is a :class:`~.core.SparseCore` whose lanes multiply
nothing: it takes the same commands and element beats as the core
(:mod:`.descriptor`, :func:`~.core.beat_layout`), so the firmware builds its
passes with the core's pass builder
(:func:`ganforge.firmware.compiler.eors.compile_eors`). Per tap, a lane forms
``x̃ · w̃`` with shifters and adders only (:func:`eors_product`):

* ``x̃``: the element reduced in the lane: ``|x|`` keeps bit ``p`` when
  ``|x| >> (p + m + 1) == 0`` (the leading one and ``m`` bits below it), then
  the sign;
* ``w̃``: the weight reduced by the host into an *EORS weight word*
  (:func:`eors_weight_word`): sign, shift ``sh`` and the ``m + 1`` kept bits
  ``mant``, so ``w̃ = ±mant · 2**sh``;
* ``x̃ · w̃ = ±(Σ_b mant[b] · (x̃ << b)) << sh``: ``m + 1`` constant shifts
  and adds, and one barrel shifter. With ``m = 0`` it is ``±2**(e(x)+e(w))``.

Accumulation, bias and decision. The products accumulate into the lane's
accumulator of ``acc_width + 1`` bits, modulo ``2**(acc_width+1)`` (a partial
sum may wrap; the final sum is exact when it fits). The drain adds the pass's BIAS beat,
which the firmware loads as ``bias + margin``, and the output stage (shift 0,
ReLU) gives mask bit ``estimate + margin > 0``. So **mask 0 means predicted
zero** (``estimate ≤ −margin``). The guard bit makes ``estimate + margin``
exact for every estimate that fits ``acc_width`` bits (the golden model
refuses others) and every ``0 ≤ margin < 2**(acc_width−1)``. The firmware
packs the drained mask bits into the core's ``MASK`` beats.

Knobs: ``mantissa_bits`` and ``acc_width`` come from the configuration
(``eors_extra_mantissa_bits``, ``eors_acc_width``) and are fixed at
elaboration; ``margin`` is per pass (in the BIAS beat), so the firmware sets
it per layer and step.

Counters are the core's: ``macs_issued`` counts the speculation products
(one per non-zero input tap), ``cycles_*`` the pass's cycles. False zeros
(predicted zero, true value positive) cannot be known by the unit or by a
core that skips them: the host counts them against the golden model (see
docs/eors.md).

See :class:`EorsUnit` for its parameters, ports and latency.
"""

from functools import partial

from ..core import SparseCore
from ..refuse import Params, refuse
from .arith import MAX_MANTISSA_BITS, eors_product, shift_bits

__all__ = ["EorsUnit"]


class EorsUnit(SparseCore):
    """The EORS speculation unit: a :class:`~ganforge.rtl.core.SparseCore` whose lanes form
    shift-add EORS products, draining one predicted-zero mask bit per output.

    Parameters
    ----------
    lanes, max_kernel, max_stride, weight_depth, out_depth, coord_bits, fifo_depth
        As :class:`~ganforge.rtl.core.SparseCore`.
    data_width : int
        Width of the elements and of the EORS weight words.
    acc_width : int
        The speculation accumulator (``eors_acc_width``), ``2·data_width − 1``..63; the
        lanes use ``acc_width + 1`` bits (the guard bit).
    mantissa_bits : int
        Extra mantissa bits ``m`` kept of each operand (``eors_extra_mantissa_bits``),
        0..``MAX_MANTISSA_BITS``.

    Members
    -------
    The ports of :class:`~ganforge.rtl.core.SparseCore`, with ``acc_width + 1``-bit command
    values. Operand words are EORS weight words (:func:`~.arith.eors_weight_word`), stored
    in ``2 + shift bits + mantissa_bits`` bits of operand memory (the core's
    ``weight_width``); a
    pass's BIAS beat carries ``bias + margin``. On ``o``, each lane's ``mask`` is 0 for a
    predicted zero (``estimate ≤ −margin``); the firmware reads only the mask bits. The
    counters are the core's: ``macs_issued`` counts the speculation products,
    ``cycles_*`` the unit's cycles.

    Latency and throughput
    ----------------------
    As the core's. An element reaches a lane's iterator two cycles after it is taken
    and its taps issue one per cycle per lane; the product is combinational in the
    read-modify-write cycle (no extra stage). A pass retires about four cycles after its
    last tap and drains one mask beat (one bit per lane) per cycle.

    Bad input
    ---------
    As the core's: refused descriptors, stray loads and out-of-range elements set
    ``error``. A partial sum may wrap modulo ``2**(acc_width + 1)``; the final sum, and
    so the decision, is exact when the estimate fits ``acc_width`` bits.

    Raises
    ------
    ValueError
        At construction, naming the parameter, as ``EorsUnit: ...``: ``data_width`` not 8
        or 16; ``mantissa_bits`` outside 0..``MAX_MANTISSA_BITS`` or too wide for a
        ``data_width``-bit weight word (sign, shift, ``mantissa_bits + 1`` bits: at most 3
        for 8-bit data); ``acc_width`` outside ``2·data_width − 1``..63; and the core's
        refusals (:class:`~ganforge.rtl.core.SparseCore`) of the other parameters.
    """

    def __init__(self, *, lanes=16, data_width=16, acc_width=36, mantissa_bits=0, max_kernel=5,
                 max_stride=2, weight_depth=2048, out_depth=1024, coord_bits=8, fifo_depth=32):
        p = Params(self, "EorsUnit")
        p.choice("data_width", data_width, (8, 16))
        fit = min(MAX_MANTISSA_BITS, data_width - 2 - shift_bits(data_width))
        p.int("mantissa_bits", mantissa_bits, 0, fit,
              f" (a {data_width}-bit EORS weight word holds sign, shift and "
              f"mantissa_bits + 1 bits)" if fit < MAX_MANTISSA_BITS else "")
        p.int("acc_width", acc_width, 2 * data_width - 1, 63,
              " (the output stage takes 2*data_width..64 bits with the guard bit)")
        self.mantissa_bits = mantissa_bits
        self.eors_acc_width = acc_width
        try:
            super().__init__(lanes=lanes, data_width=data_width, acc_width=acc_width + 1,
                             max_kernel=max_kernel, max_stride=max_stride,
                             weight_depth=weight_depth, out_depth=out_depth,
                             coord_bits=coord_bits, fifo_depth=fifo_depth,
                             product=partial(eors_product, mantissa_bits=mantissa_bits,
                                             data_width=data_width),
                             weight_width=2 + shift_bits(data_width) + mantissa_bits)
        except ValueError as exc:          # the core's rules, under this unit's name
            refuse(self, "EorsUnit: " + str(exc).removeprefix("SparseCore: "))
