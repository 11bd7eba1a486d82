"""Arithmetic shared by the ROLIN units, and the layouts of their tables.

Every function here builds combinational logic that matches one line of
:mod:`ganforge.golden.instnorm` bit for bit:

* :func:`shift_round_signed`: ``_sr``/``shift_round`` with a signed shift
  (round half up on the right, exact on the left);
* :func:`saturate_hw`: ``saturate``;
* :func:`lane_pre`: the forward pre-activation ``requantize(a·x + b, scale_frac)``
  (:func:`in_apply`), whose sign is the ReLU mask;
* :func:`lane_xhat`: ``x̂ = saturate(shift_round((M·x − S1)·rs, RSQRT_Q + k − frac_xhat))``
  (:func:`in_xhat`).

Table entries, one per (sample, channel) map:

* :func:`fp_entry_layout`: ``a``, ``b``, ``rs``, ``k``, ``s1`` (forward parameters,
  and what the backward needs to recompute ``x̂``);
* :func:`ep_entry_layout`: ``c1``, ``c2``, ``c3`` (backward coefficients);
* :data:`GB_LAYOUT`: ``gamma``, ``beta`` of a channel.
"""

from amaranth.hdl import Mux, Signal, signed, unsigned
from amaranth.lib import data

from ganforge.golden.instnorm import IN_COEF_WIDTH, IN_OFFSET_WIDTH, RSQRT_BITS
from ..core.output_stage import shift_round_hw

__all__ = ["shift_round_signed", "saturate_hw", "fits", "lane_pre", "lane_xhat", "fp_entry_layout",
           "ep_entry_layout", "GB_LAYOUT", "K_BITS", "SHIFT_BITS", "MAX_LEFT_SHIFT"]

#: Bits of the rsqrt exponent ``k`` (signed).
K_BITS = 8
#: Bits of the signed shift controls.
SHIFT_BITS = 8
#: Largest left shift the shifters implement (a larger one is a configuration error).
MAX_LEFT_SHIFT = 32


def s1_width(data_width, count_bits):
    """Signed bits of ``Σx`` over at most ``2**count_bits`` elements."""
    return data_width + count_bits + 1


def fp_entry_layout(data_width, count_bits):
    return data.StructLayout({
        "a": signed(IN_COEF_WIDTH), "b": signed(IN_OFFSET_WIDTH),
        "rs": unsigned(RSQRT_BITS + 1), "k": signed(K_BITS),
        "s1": signed(s1_width(data_width, count_bits)),
    })


def ep_entry_layout():
    return data.StructLayout({"c1": signed(IN_COEF_WIDTH), "c2": signed(IN_COEF_WIDTH),
                              "c3": signed(IN_OFFSET_WIDTH)})


GB_LAYOUT = data.StructLayout({"gamma": signed(16), "beta": signed(16)})


def shift_round_signed(value, shift, width):
    """``value`` shifted by the signed ``shift``: right with round-half-up, or left exactly.

    ``width`` is the signed width of the result; it must hold ``value`` shifted
    left by the largest left shift that occurs (at most :data:`MAX_LEFT_SHIFT`).
    """
    right = Mux(shift > 0, shift, 0).as_unsigned()[:SHIFT_BITS - 1]
    left = Mux(shift < 0, -shift, 0).as_unsigned()[:6]
    return Mux(shift >= 0, shift_round_hw(value, right, width),
               (value.as_signed() << left)).as_signed()


def saturate_hw(value, width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(value > hi, hi, Mux(value < lo, lo, value))[:width].as_signed()


def fits(value, width):
    """1 when signed ``value`` lies in the range of ``width`` signed bits."""
    return (value >= -(1 << (width - 1))) & (value <= (1 << (width - 1)) - 1)


def lane_pre(m, a, b, x, scale_frac, data_width, name):
    """``requantize(a·x + b, scale_frac, data_width)`` of one lane; returns a signed Signal."""
    acc = Signal(signed(IN_OFFSET_WIDTH + 2), name=f"{name}_acc")
    pre = Signal(signed(data_width), name=f"{name}_pre")
    m.d.comb += [
        acc.eq(a * x + b),
        pre.eq(saturate_hw(shift_round_hw(acc, scale_frac, IN_OFFSET_WIDTH + 3), data_width)),
    ]
    return pre


def lane_xhat(m, count, x, s1, rs, k, xhat_base, data_width, name):
    """``x̂`` of one lane: ``saturate(shift_round((M·x − S1)·rs, xhat_base + k))``."""
    centred = Signal(signed(len(s1) + 2), name=f"{name}_centred")
    prod = Signal(signed(len(centred) + RSQRT_BITS + 2), name=f"{name}_prod")
    sh = Signal(signed(SHIFT_BITS + 1), name=f"{name}_sh")
    xh = Signal(signed(data_width), name=f"{name}_xhat")
    m.d.comb += [
        centred.eq(count * x - s1),
        prod.eq(centred * rs),
        sh.eq(xhat_base + k),
        xh.eq(saturate_hw(shift_round_signed(prod, sh, len(prod) + MAX_LEFT_SHIFT + 1), data_width)),
    ]
    return xh
