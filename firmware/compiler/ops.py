"""Compile one layer op into passes of a :class:`~ganforge.rtl.core.SparseCore`.

:func:`compile_op` maps one op of the golden API (the table
:data:`ganforge.golden.ops.TABLE`) onto the core and returns a
:class:`~.program.Program`: the passes (descriptor, loads, input beats) and where each
drained output goes in the result. :mod:`.passes` builds the passes.

The ops and how they map (the relation follows from the table's ``transposed``):

============================ ============ ===========================================
op                           relation     lane computes
============================ ============ ===========================================
conv                         conv         y[n, co] from x[n], weights w[co]
conv_transpose               transposed   y[n, co] from x[n], weights w[:, co]
conv_input_grad (conv EP)    transposed   dx[n, c] from dy[n], weights w[:, c]
conv_transpose_input_grad    conv         dx[n, c] from dy[n], weights w[c]
conv_weight_grad             see below    dw = Σ_n dy[n, a] ⋆ x[n, b]
conv_transpose_weight_grad   see below    the same with x and dy swapped
============================ ============ ===========================================

A weight gradient ``dw[a, b] = Σ DY[n, a, oh, ow] · X[n, b, oh·s + kh − p]``
runs in one of two ways. Lanes over ``a``: the elements are ``X`` and the
operand is ``DY[n, a]`` (conv relation). Lanes over ``b``: the elements are
``DY`` and the operand is ``X[n, b]`` (transposed relation). The compiler picks
whichever side has more channels. In both, the operand's non-zero bitmap is
the mask, so zeros on both sides are skipped.

``dense=True`` turns every kind of skipping off and streams every element,
zeros included. This is the baseline. The result is identical.
"""

import numpy as np

from ganforge.golden.fixed import as_int_array
from ganforge.golden.ops import op_spec

from .passes import fp_passes, wg_passes
from .program import Program

__all__ = ["compile_op", "lane_weights"]


def lane_weights(op, w):
    """The weights of an FP/EP ``op`` as its lanes take them, ``[C_out, C_in, K, K]``
    (``C_out``: the result's channels, ``C_in``: the data's): ``w`` as it is for a plain
    convolution, with its first two axes swapped for a transposed one."""
    return w.transpose(1, 0, 2, 3) if op_spec(op).transposed else w


def compile_op(op, tensors, *, lanes, weight_depth, out_depth, stride=1, padding=0,
               output_padding=0, kernel_size=None, input_hw=None, shift=0,
               activation="identity", slope_shift=2, bias=None, out_mask=None, dense=False,
               balance=True, audit=False, pack_samples=True, reuse=True):
    """A :class:`~.program.Program` computing ``op`` on ``tensors`` (a dict named as the
    golden API) on a core of ``lanes`` lanes with ``weight_depth`` operand words and
    ``out_depth`` accumulator words per lane.

    ``balance`` (FP and EP with ``out_mask``): fill the lanes in
    :func:`~.passes.balanced_channel_order`, so that lanes of one pass have similar work;
    ``False`` keeps the natural channel order (the baseline of the balancing).

    ``reuse``: a pass whose operands a bank already holds skips loading them (the
    program runs in order on one core); ``False`` loads every pass's operands, so the
    passes may run on different cores or in another order.

    ``pack_samples`` (FP and EP): with fewer output channels than lanes, the idle lanes
    take further samples (the descriptor's ``slots``); ``False`` leaves them idle, one
    sample per pass (what the accelerator's load path streams).

    ``audit`` (FP and EP with ``out_mask``): compute every tap and apply the
    mask at the drain (``skip_mask = 0``, ``mask_out = 1``). The result is the
    same; the core's ``false_zero`` and ``missed_zero`` counters then count the
    outputs the mask removed although they were positive, and those it kept
    although they were not (EORS's mispredictions, in hardware).
    """
    if audit and out_mask is None:
        raise ValueError("audit=True needs an out_mask to audit")
    spec = op_spec(op)
    t = {name: as_int_array(v, name) for name, v in tensors.items()}
    common = dict(lanes=lanes, weight_depth=weight_depth, out_depth=out_depth, shift=shift,
                 activation=activation, slope=slope_shift, dense=dense)
    if spec.kind == "wg":
        passes, shape = wg_passes(*spec.wg_pair(t), stride, padding, int(kernel_size),
                                  reuse=reuse, **common)
        return Program(op, passes, shape, lanes)
    inp, wl = t[spec.data], lane_weights(op, t["w"])
    if wl.ndim != 4 or wl.shape[2] != wl.shape[3] or wl.shape[2] < 1:
        raise ValueError(f"the core runs square kernels of at least 1x1, got weights of "
                         f"shape {t['w'].shape}")
    out_hw = spec.out_hw(inp.shape[2:], wl.shape[2], stride, padding, output_padding, input_hw)
    if wl.shape[1] != inp.shape[1]:
        raise ValueError(f"{op}: the input has {inp.shape[1]} channels but the weights expect {wl.shape[1]}")
    shape = (inp.shape[0], wl.shape[0], *out_hw)
    if out_mask is not None and np.shape(out_mask) != shape:
        raise ValueError(f"out_mask has shape {np.shape(out_mask)}, the result {shape}")
    if bias is not None and np.shape(bias) != (wl.shape[0],):
        raise ValueError(f"bias has shape {np.shape(bias)}: one per output channel, "
                         f"{wl.shape[0]}")
    passes = fp_passes(inp, np.ascontiguousarray(wl), spec.transposed, out_hw, stride, padding,
                       bias=bias, out_mask=out_mask, balance=balance, audit=audit,
                       pack_samples=pack_samples, reuse=reuse, **common)
    return Program(op, passes, shape, lanes)
