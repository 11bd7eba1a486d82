"""The commands of a sparse core: pass descriptors and load beats, as ``amaranth.lib.data`` layouts.

A core is programmed through one in-order command stream (``cmd``). Each pass
starts with a ``DESC`` command, followed by the pass's *setup* beats
(``ENABLE``, ``BIAS``, ``MASK``: ``nloads`` of them) and then, when ``wload``
is set, its operand words (``WEIGHT``), in address order from 0. Elements
travel on a separate stream; see :mod:`.core`.

A load beat carries one :func:`load_width`-bit value per lane (an operand word,
a mask word, or a piece of a bias): the command stream then moves no more bits
than the weights need. A bias, as wide as the accumulator, takes
:func:`bias_pieces` ``BIAS`` beats, piece ``addr`` low first; a context's bias is
0 until its pieces arrive.

Descriptor fields:

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
in_h/w     coord   height and width of the element map (the pass's input)
cin        coord   input channels in this pass (WG: the accumulator holds ``cin·K²`` words)
shift      6       requantisation shift of the output stage
activation 2       0 identity, 1 ReLU, 2 LeakyReLU
slope      4       LeakyReLU slope ``2**-slope``
skip_zero  1       drop zero input elements (input sparsity)
skip_mask  1       never issue taps whose output (operand) mask bit is off
mask_out   1       FP/EP: outputs whose mask bit is off drain as 0 (the op's semantics;
                   independent of skipping, so the dense baseline gives the same result)
drain      1       end the tile: drain the accumulators through the output stage.
                   With 0 the next pass keeps accumulating into the same words
                   (a reduction split over passes)
slots      3       log2 of the input slots in use: lane ``l`` takes slot ``l mod 2**slots``
wbank      1       operand (weight) bank the pass reads
wload      1       the pass loads its operand words into ``wbank``; with 0 it reuses
                   what an earlier pass loaded there
nloads     var     setup beats (ENABLE, BIAS, MASK) that follow the descriptor
========== ======= ==============================================================

Maps are stored *pitched*: output (or operand-map) position ``(oh, ow)`` is
word ``oh·2**lg + ow`` with ``2**lg`` the smallest power of two ≥ ``out_w``.
Addresses are then shifts and ORs, never multiplications. A map needs
``out_h·2**lg`` words.

A descriptor the core cannot run sets an :class:`Error` code; see
:func:`check_descriptor` for the rules (the RTL checks the same ones).
"""

import enum

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

__all__ = ["Op", "Error", "CmdKind", "descriptor_layout", "cmd_layout", "check_descriptor",
           "pitch_log2", "map_words", "nload_bits", "load_width", "bias_pieces", "MASK_WORD",
           "MAX_BIAS_PIECES"]

#: Mask bits written by one ``MASK`` beat.
MASK_WORD = 16


class Op(enum.IntEnum):
    CONV = 0
    TCONV = 1
    CONV_WG = 2
    TCONV_WG = 3


class CmdKind(enum.IntEnum):
    """What a command beat is. Loads act on every lane whose ``en`` bit is set, each lane
    taking its own ``value``."""
    DESC = 0        # a pass descriptor (the ``desc`` field)
    WEIGHT = 1      # operand word ``addr`` (weights in FP/EP, error/input map in WG)
    MASK = 2        # MASK_WORD mask bits (low bits of ``value``) at mask word ``addr``
    BIAS = 3        # piece ``addr`` (low first) of the lane's bias for the tile this pass
                    # drains (accumulator units, bias_pieces beats of load_width bits)
    ENABLE = 4      # the lane computes (bit 0 = 1) or sits the pass out (0); default 1


class Error(enum.IntEnum):
    """Error codes of the core's ``error`` register (0: none). The first error sticks."""
    NONE = 0
    KERNEL = 1          # kernel is 0 or above max_kernel
    STRIDE = 2          # stride is 0, 3, or above max_stride
    PADDING = 3         # padding >= kernel
    OUT_SIZE = 4        # the accumulator or mask words of the pass exceed out_depth
    WEIGHT_SIZE = 5     # the operand words of the pass exceed weight_depth
    ACTIVATION = 6      # activation code 3
    SLOTS = 7           # 2**slots exceeds the lanes
    SHIFT = 8           # shift >= acc_width
    LOAD = 9            # a load beat the pass did not announce, out of address order, or
                        # a descriptor before the previous pass's loads were complete
    ELEMENT = 10        # an element outside the pass's input map or channels (dropped)
    REUSE = 11          # wload = 0 but the bank holds fewer operand words than the pass needs
    SIZE = 12           # a zero-sized pass (out_h, out_w, in_h, in_w or cin is 0)


#: The most beats a bias takes (an accumulator of up to 64 bits in 16-bit pieces).
MAX_BIAS_PIECES = 4


def load_width(data_width):
    """Bits of a load beat's value per lane: an operand word, a mask word or a piece of a
    bias, whichever is widest."""
    return max(data_width, MASK_WORD)


def bias_pieces(acc_width, data_width):
    """Load beats of one bias: ``acc_width`` bits in :func:`load_width` pieces."""
    return -(-acc_width // load_width(data_width))


def nload_bits(out_depth):
    """Width of ``nloads``: room for every mask word of a map, a bias (up to
    :data:`MAX_BIAS_PIECES` beats) and an enable beat."""
    return (out_depth // MASK_WORD + MAX_BIAS_PIECES + 1).bit_length()


def descriptor_layout(coord_bits=8, out_depth=256):
    return data.StructLayout({
        "op": unsigned(2), "kernel": unsigned(3), "stride": unsigned(2), "padding": unsigned(3),
        "out_h": unsigned(coord_bits), "out_w": unsigned(coord_bits),
        "in_h": unsigned(coord_bits), "in_w": unsigned(coord_bits), "cin": unsigned(coord_bits),
        "shift": unsigned(6), "activation": unsigned(2), "slope": unsigned(4),
        "skip_zero": unsigned(1), "skip_mask": unsigned(1), "mask_out": unsigned(1),
        "drain": unsigned(1), "slots": unsigned(3), "wbank": unsigned(1), "wload": unsigned(1),
        "nloads": unsigned(nload_bits(out_depth)),
    })


def cmd_layout(lanes, addr_bits, value_width, coord_bits, out_depth):
    """One command beat: a descriptor, or a load with one ``value_width``-bit value per lane
    (:func:`load_width`)."""
    return data.StructLayout({
        "kind": unsigned(3), "addr": unsigned(addr_bits), "en": unsigned(lanes),
        "value": data.ArrayLayout(signed(value_width), lanes),
        "desc": descriptor_layout(coord_bits, out_depth),
    })


def pitch_log2(out_w):
    """``lg``: the row pitch of a map ``out_w`` wide is ``2**lg``."""
    return max(0, (int(out_w) - 1).bit_length())


def map_words(out_h, out_w):
    """Words a pitched ``out_h × out_w`` map occupies."""
    return int(out_h) << pitch_log2(out_w)


def check_descriptor(d, *, lanes, max_kernel, max_stride, weight_depth, out_depth, acc_width):
    """The error code (:class:`Error`) the core sets for descriptor ``d`` (a dict).

    ``REUSE`` depends on what the bank holds and is checked by the core only.
    """
    k = d["kernel"]
    if not 1 <= k <= max_kernel:
        return Error.KERNEL
    if d["stride"] not in (1, 2) or d["stride"] > max_stride:
        return Error.STRIDE
    if d["padding"] >= k:
        return Error.PADDING
    if min(d["out_h"], d["out_w"], d["in_h"], d["in_w"], d["cin"]) == 0:
        return Error.SIZE
    wg = d["op"] in (Op.CONV_WG, Op.TCONV_WG)
    words, taps = map_words(d["out_h"], d["out_w"]), d["cin"] * k * k
    if (taps if wg else words) > out_depth or words > out_depth:
        return Error.OUT_SIZE
    if (words if wg else taps) > weight_depth:
        return Error.WEIGHT_SIZE
    if d["activation"] == 3:
        return Error.ACTIVATION
    if (1 << d["slots"]) > lanes:
        return Error.SLOTS
    if d["shift"] >= acc_width:
        return Error.SHIFT
    return Error.NONE
