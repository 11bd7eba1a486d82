"""EORS programs: a ReLU layer's FP speculated on an :class:`~ganforge.rtl.eors.EorsUnit`,
and how a speculation runs overlapped with the core (:class:`~ganforge.rtl.eors.EorsPipeline`).

* :func:`compile_eors`: the unit's program for an FP op (the core's passes with EORS
  weight words and ``bias + margin``);
* :func:`eors_prediction`: the predicted-zero map read from that program's drained beats;
* :func:`pipeline_tile`: the samples per tile of an overlapped run.
"""

import numpy as np

from ganforge.golden.fixed import as_int_array, int_range
from ganforge.golden.ops import op_spec, work_counts
from ganforge.rtl.eors.arith import eors_weight_word

from .ops import compile_op, lane_weights
from .passes import input_chunk

__all__ = ["compile_eors", "eors_prediction", "pipeline_tile"]


def _fp_tensors(op, tensors):
    """``x`` and ``w`` (int64) of an FP op; a ``ValueError`` for any other op."""
    if op_spec(op).kind != "fp":
        raise ValueError(f"EORS speculates FP convolutions (conv, conv_transpose), not {op!r}")
    return as_int_array(tensors["x"], "x"), as_int_array(tensors["w"], "w")


def compile_eors(op, tensors, *, lanes, weight_depth, out_depth, mantissa_bits, margin,
                 acc_width, data_width=16, stride=1, padding=0, output_padding=0, bias=None,
                 **_):
    """The speculation passes of a ReLU layer's FP on an :class:`~ganforge.rtl.eors.EorsUnit`.

    ``op`` is ``conv`` or ``conv_transpose``. The passes are the core's own
    (:func:`~.ops.compile_op`'s FP pass builder, sparse) with the weights replaced by
    EORS weight words and each lane's bias by ``bias + margin``; the output
    stage runs at shift 0 with ReLU, so a drained mask bit is 0 exactly where
    :func:`~ganforge.golden.eors.eors_predict` predicts zero. Read the
    prediction with :func:`eors_prediction`. ``margin`` is in accumulator units,
    ``0 ≤ margin < 2**(acc_width − 1)``; ``acc_width`` is the unit's (the
    configuration's ``eors_acc_width``). Other keywords are ignored.
    """
    x, w = _fp_tensors(op, tensors)
    margin = int(margin)
    if not 0 <= margin < 1 << (int(acc_width) - 1):
        raise ValueError(f"margin must be in 0..2**(acc_width-1)-1 = {(1 << (acc_width - 1)) - 1}, "
                         f"got {margin}")
    word = np.vectorize(lambda v: eors_weight_word(v, mantissa_bits, data_width), otypes=[np.int64])
    w_words = word(w) if w.size else w
    cout = lane_weights(op, w).shape[0]
    b = np.zeros(cout, dtype=np.int64) if bias is None else as_int_array(bias, "bias")
    lo, hi = int_range(int(acc_width))
    if b.size and (b.min() < lo or b.max() > hi):
        raise ValueError(f"bias does not fit acc_width={acc_width}")
    # ``bias + margin`` is never 0 where a lane has a bias: the pass builder omits the BIAS
    # beat only when every lane's value is 0, which is then the right value.
    return compile_op(op, {"x": x, "w": w_words}, lanes=lanes, weight_depth=weight_depth,
                      out_depth=out_depth, stride=stride, padding=padding,
                      output_padding=output_padding, shift=0, activation="relu",
                      bias=b + margin)


def eors_prediction(prog, drained):
    """The predicted-zero map (bool, NCHW) of an :func:`compile_eors` program's drained beats."""
    _, mask = prog.assemble(drained)
    return ~mask


def pipeline_tile(op, tensors, *, weight_depth, stride=1, padding=0, output_padding=0, **_):
    """Samples per tile when EORS runs overlapped with the core (``EorsPipeline``).

    The core's program for a tile loads each channel group's weights (one beat per word,
    every lane at once) and then runs the tile's samples with them. A tile of one sample
    overlaps best, but when a sample's MACs per channel are few (a 1×1 input: G1) the
    loads, not the MACs, set the pace. The tile is the smallest number of samples whose
    MACs per channel and input chunk, counted without EORS (input zeros skipped), are at
    least twice the weight words of the chunk: EORS may skip up to half of them and the
    loads must still hide behind the rest (they go to the other operand bank while the
    previous pass computes). Capped at the batch. ``op`` is ``conv`` or
    ``conv_transpose``; other keywords are ignored.
    """
    x, w = _fp_tensors(op, tensors)
    n, cin, k = x.shape[0], x.shape[1], w.shape[2]
    cout = lane_weights(op, w).shape[0]
    chunk = input_chunk(cin, k, weight_depth)
    macs = work_counts(op, {"x": x, "w": w}, stride=stride, padding=padding,
                       output_padding=output_padding)["effective_macs"]
    per_sample = macs / (n * cout * -(-cin // chunk))
    tile = int(np.ceil(2 * chunk * k * k / per_sample)) if per_sample else n
    return max(1, min(n, tile))
