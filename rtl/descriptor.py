"""The tile descriptor of a sparse core: one pass of its lanes, as an ``amaranth.lib.data`` layout.

========== ======= ==============================================================
field      bits    meaning
========== ======= ==============================================================
op         2       :class:`Op`: ``CONV`` / ``TCONV`` (FP and EP: the relation between
                   input and output positions), ``CONV_WG`` / ``TCONV_WG`` (weight
                   gradients: the operand memory holds an error map)
kernel     3       K, 1..``max_kernel``
stride     2       1 or 2 (up to ``max_stride``)
padding    3       < K
out_h/w    coord   output (FP/EP) or operand-map (WG) height and width
cin        coord   input channels in this pass (WG: the accumulator holds ``cin·K²`` words)
shift      6       requantisation shift of the output stage
activation 2       0 identity, 1 ReLU, 2 LeakyReLU
slope      4       LeakyReLU slope ``2**-slope``
skip_zero  1       drop zero input elements (input sparsity)
skip_mask  1       never issue taps whose output (operand) mask bit is off
mask_out   1       FP/EP: outputs whose mask bit is off drain as 0 (the op's semantics;
                   independent of skipping, so the dense baseline gives the same result)
drain      1       end the pass by draining the accumulators through the output stage
slots      3       log2 of the input slots in use: lane ``l`` takes slot ``l mod 2**slots``
========== ======= ==============================================================

A descriptor the core cannot run sets an :class:`Error` code; see
:func:`check_descriptor` for the rules (the RTL checks the same ones).
"""

import enum

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["Op", "Error", "descriptor_layout", "check_descriptor"]


class Op(enum.IntEnum):
    CONV = 0
    TCONV = 1
    CONV_WG = 2
    TCONV_WG = 3


class Error(enum.IntEnum):
    """Error codes of the core's ``error`` register (0: none). The first error sticks."""
    NONE = 0
    KERNEL = 1          # kernel is 0 or above max_kernel
    STRIDE = 2          # stride is 0, 3, or above max_stride
    PADDING = 3         # padding >= kernel
    OUT_SIZE = 4        # the accumulator words of the pass exceed out_depth
    WEIGHT_SIZE = 5     # the operand words of the pass exceed weight_depth
    ACTIVATION = 6      # activation code 3
    SLOTS = 7           # 2**slots exceeds the lanes
    SHIFT = 8           # shift >= acc_width


def descriptor_layout(coord_bits=8):
    return data.StructLayout({
        "op": unsigned(2), "kernel": unsigned(3), "stride": unsigned(2), "padding": unsigned(3),
        "out_h": unsigned(coord_bits), "out_w": unsigned(coord_bits), "cin": unsigned(coord_bits),
        "shift": unsigned(6), "activation": unsigned(2), "slope": unsigned(4),
        "skip_zero": unsigned(1), "skip_mask": unsigned(1), "mask_out": unsigned(1),
        "drain": unsigned(1),
        "slots": unsigned(3),
    })


def check_descriptor(d, *, lanes, max_kernel, max_stride, weight_depth, out_depth, acc_width):
    """The error code (:class:`Error`) the core sets for descriptor ``d`` (a dict)."""
    k = d["kernel"]
    if not 1 <= k <= max_kernel:
        return Error.KERNEL
    if d["stride"] not in (1, 2) or d["stride"] > max_stride:
        return Error.STRIDE
    if d["padding"] >= k:
        return Error.PADDING
    wg = d["op"] in (Op.CONV_WG, Op.TCONV_WG)
    pos, taps = d["out_h"] * d["out_w"], d["cin"] * k * k
    if (taps if wg else pos) > out_depth:
        return Error.OUT_SIZE
    if (pos if wg else taps) > weight_depth:
        return Error.WEIGHT_SIZE
    if d["activation"] == 3:
        return Error.ACTIVATION
    if (1 << d["slots"]) > lanes:
        return Error.SLOTS
    if d["shift"] >= acc_width:
        return Error.SHIFT
    return Error.NONE
