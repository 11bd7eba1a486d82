"""EORS arithmetic in hardware: the reduced operands and their shift-add product.

A leaf of the RTL: it builds expressions, no component. The speculation unit
(:mod:`.unit`) hands :func:`eors_product` to its lanes; the firmware packs
weights with :func:`eors_weight_word`. Both match
:func:`ganforge.golden.eors.eors_operand` bit for bit (see :mod:`.unit` for
the arithmetic).
"""

from amaranth.hdl import Cat, Mux, Signal, signed, unsigned

__all__ = ["eors_product", "eors_weight_word", "shift_bits", "MAX_MANTISSA_BITS"]

#: The largest ``mantissa_bits`` the unit elaborates (the configuration's range).
MAX_MANTISSA_BITS = 4


def shift_bits(data_width):
    """Width of the ``sh`` field of an EORS weight word."""
    return max(1, (data_width - 1).bit_length())


def eors_weight_word(w, mantissa_bits, data_width=16):
    """The EORS weight word of integer weight ``w`` (a Python int, signed ``data_width``).

    Bit 0 is the sign, bits ``1 .. S`` the shift ``sh`` (``S = shift_bits``), the next
    ``mantissa_bits + 1`` bits ``mant``: ``w̃ = ±mant · 2**sh`` is
    :func:`~ganforge.golden.eors.eors_operand`'s reduction of ``w``. The word is returned
    as the signed ``data_width``-bit integer the operand memory stores.
    """
    w = int(w)
    mag = abs(w)
    sh = max(mag.bit_length() - 1 - mantissa_bits, 0)
    mant = mag >> sh
    sb = shift_bits(data_width)
    word = int(w < 0) | (sh << 1) | (mant << (1 + sb))
    if word >= 1 << data_width:
        raise ValueError(f"EORS weight word of {w} does not fit {data_width} bits")
    return word - (1 << data_width) if word >> (data_width - 1) else word


def eors_product(m, x, word, mantissa_bits, data_width):
    """``x̃ · w̃`` of element ``x`` (signed) and EORS weight word ``word``: shifts and adds."""
    mb, dw = mantissa_bits, data_width
    sb = shift_bits(dw)
    ax = Signal(unsigned(dw), name="eors_abs_x")
    m.d.comb += ax.eq(Mux(x < 0, -x, x))
    kept = Signal(unsigned(dw), name="eors_x_kept")
    m.d.comb += kept.eq(Cat(*[ax[p] & ((ax >> (p + mb + 1)) == 0) for p in range(dw)]))
    raw = word.as_unsigned()
    w_neg, sh, mant = raw[0], raw[1:1 + sb], raw[1 + sb:2 + sb + mb]
    partial = Signal(unsigned(dw + mb + 1), name="eors_partial")
    m.d.comb += partial.eq(sum(Mux(mant[b], kept << b, 0) for b in range(mb + 1)))
    mag = Signal(unsigned(2 * dw), name="eors_mag")
    m.d.comb += mag.eq(partial << sh)
    prod = Signal(signed(2 * dw + 2), name="eors_prod")
    m.d.comb += prod.eq(Mux((x < 0) ^ w_neg, -mag, mag))
    return prod
