"""Load-path adapter: dense map-major words from the ROLIN engine to the core's element beats.

:class:`RolinEngine`'s ``ld`` stream carries words of ``words`` elements
(element 0 in the low bits) in NCHW order: one pass's input is the
``cin × in_h × in_w`` block of one sample, channel after channel, each map
in raster order. The core's ``x_in`` takes element beats with coordinates
``(ci, i, j)`` relative to the pass (:mod:`ganforge.rtl.core`). This adapter counts the
coordinates and sends one element per beat, in slot 0: a pass carries one
sample (descriptor ``slots = 0``), so every lane reads slot 0.

For every pass the host sends its geometry ``{cin, in_h, in_w}`` (the pass
descriptor's fields) on ``geom``; the adapter takes it off the stream when it
sends the pass's last element, which carries ``end``.

Zeros. With ``keep_zero`` low, zero elements are dropped here, so a word of
zeros costs one cycle and no core beat. The pass's last element is always
sent, with ``valid = 0`` when it is zero, because it carries ``end``. With
``keep_zero`` high every element is sent (the dense baseline; the core's
``skip_zero`` then decides). Results are identical either way.

The ld stream's mask bits are not used: the core needs values only (the IN
backward applies the ReLU mask itself, in the engine).

Geometry rules. ``in_w`` must be a multiple of ``words`` (a word never
crosses a row) and no field may be 0. A geometry that breaks them is taken
off ``geom`` without consuming any word, and sets the sticky ``error`` bit
(cleared by ``error_clear``).

See :class:`LoadToElements` for its parameters, ports and latency.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..core import beat_layout
from ..refuse import Params
from ..unused import declare_unused

__all__ = ["LoadToElements", "geom_layout", "load_layout"]


def load_layout(data_width, lanes):
    """One beat of the load path: ``lanes`` words of ``data_width`` bits and a keep bit per word."""
    return data.StructLayout({"data": unsigned(data_width * lanes), "mask": unsigned(lanes)})


def geom_layout(coord_bits):
    """A pass's input geometry, as in its descriptor."""
    return data.StructLayout({"cin": unsigned(coord_bits), "in_h": unsigned(coord_bits),
                              "in_w": unsigned(coord_bits)})


class LoadToElements(wiring.Component):
    """Turn the load path's dense words into the core's element beats, one element a beat
    in slot 0, counting each pass's coordinates.

    Parameters
    ----------
    lanes : int
        The core's lanes (slots of an element beat); a power of two, 1..64.
    words : int
        Elements per ld word (the engine's lanes); a power of two, a word of at most
        1024 bits.
    data_width : int
        Element width, 8 or 16.
    coord_bits : int
        The core's coordinate width, at most 16; a row of ``words`` elements must fit.

    Members
    -------
    i : :py:`In(stream.Signature(load_layout(data_width, words)))`
        Words of ``words`` elements (element 0 in the low bits), NCHW order; ``mask`` is
        ignored.
    geom : :py:`In(stream.Signature(geom_layout(coord_bits)))`
        One ``{cin, in_h, in_w}`` per pass, taken off when the pass's last element leaves.
    o : :py:`Out(stream.Signature(beat_layout(lanes, data_width, coord_bits)))`
        The core's input beats: one element in slot 0, ``end`` on the pass's last.
    keep_zero : :py:`In(1)`
        Send zero elements too (the dense baseline); low, they are dropped here.
    error : :py:`Out(1)`
        Sticky: a geometry broke the rules.
    error_clear : :py:`In(1)`
        Clears ``error``.

    Latency and throughput
    ----------------------
    An element leaves the cycle after its word is taken. One element per cycle, a word
    of zeros in one cycle, and one idle cycle per pass (the next pass's first word waits
    until the last element has left).

    Bad input
    ---------
    A geometry with a zero field, with ``in_w`` not a multiple of ``words`` (a word
    would cross a row), or of 1×1 maps with ``cin`` not a multiple of ``words``, is taken
    off ``geom`` without consuming any word and sets ``error``.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``data_width`` not 8 or 16, ``lanes`` not
        a power of two in 1..64 (the core's), ``words`` not a power of two or a word over
        1024 bits (the widest AXI data bus), ``coord_bits`` above 16 (the core's) or too
        small for a row of ``words`` elements (``in_w = words`` must fit).
    """

    def __init__(self, *, lanes=4, words=4, data_width=16, coord_bits=8):
        p = Params(self, "LoadToElements")
        p.choice("data_width", data_width, (8, 16))
        p.pow2("lanes", lanes, 1, 64, " (the core's)")
        p.pow2("words", words, 1, 1024 // data_width,
               " (a word of at most 1024 bits, the widest AXI data bus)")
        p.int("coord_bits", coord_bits, words.bit_length(), 16,
              f" (a row of words={words} elements must fit)")
        self.lanes, self.words, self.dw, self.cb = lanes, words, data_width, coord_bits
        super().__init__({
            "i": In(stream.Signature(load_layout(data_width, words))),
            "geom": In(stream.Signature(geom_layout(coord_bits))),
            "o": Out(stream.Signature(beat_layout(lanes, data_width, coord_bits))),
            "keep_zero": In(1),
            "error": Out(1),
            "error_clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        R, dw, cb = self.words, self.dw, self.cb
        s = (R - 1).bit_length()
        g = self.geom.payload

        # 1×1 maps: a word holds ``words`` channels' elements (ci advances within the word)
        flat = Signal()
        m.d.comb += flat.eq((g.in_h == 1) & (g.in_w == 1) & (R > 1))
        bad = Signal()
        m.d.comb += bad.eq((g.cin == 0) | (g.in_h == 0) | (g.in_w == 0) |
                           Mux(flat, (g.cin[:s] != 0) if s else 0, (g.in_w[:s] != 0) if s else 0))

        # Coordinates of the next word to take.
        nci, ni, nj = Signal(cb), Signal(cb), Signal(cb)
        row_end = nj + R == g.in_w
        map_end = row_end & (ni + 1 == g.in_h)
        pass_end = Mux(flat, nci + R == g.cin, map_end & (nci + 1 == g.cin))

        # The held word: its values, the elements still to send, its coordinates.
        full = Signal()
        vals = Signal(R * dw)
        pend = Signal(R)
        hci, hi, hj = Signal(cb), Signal(cb), Signal(cb)
        hlast, hflat = Signal(), Signal()

        # Lowest pending element.
        k = Signal(range(R))
        for n in reversed(range(R)):
            with m.If(pend[n]):
                m.d.comb += k.eq(n)
        onehot = Signal(R)
        m.d.comb += onehot.eq(1 << k)
        value = vals.word_select(k, dw).as_signed()
        is_end = hlast & (k == R - 1)

        slot = self.o.payload.slot[0]
        m.d.comb += [
            self.o.valid.eq(full),
            slot.valid.eq(value != 0),
            slot.ci.eq(Mux(hflat, hci + k, hci)), slot.i.eq(hi),
            slot.j.eq(Mux(hflat, hj, hj + k)), slot.value.eq(value),
            self.o.payload.end.eq(is_end),
        ]
        with m.If(self.keep_zero):
            m.d.comb += slot.valid.eq(1)
        fire = self.o.valid & self.o.ready
        left = pend & ~Mux(fire, onehot, 0)
        m.d.comb += self.geom.ready.eq((fire & is_end) | (self.geom.valid & bad))

        # A new word is taken when the held one is gone (or goes this cycle) and it does
        # not end a pass (the next pass's geometry is then not yet on ``geom``).
        free = ~full | ((left == 0) & ~hlast)
        take = Signal()
        m.d.comb += take.eq(self.i.valid & self.geom.valid & ~bad & free)
        m.d.comb += self.i.ready.eq(self.geom.valid & ~bad & free)
        # The core needs values only: the IN backward applies the ReLU mask itself, in the
        # engine, so the word's mask bits are not read here.
        declare_unused(m, "mask", self.i.payload.mask)

        with m.If(fire):
            m.d.sync += pend.eq(left)
            with m.If(left == 0):
                m.d.sync += full.eq(0)
        with m.If(take):
            x = self.i.payload.data
            nz = Cat(*[x.word_select(n, dw) != 0 for n in range(R)])
            new = Signal(R)
            m.d.comb += new.eq(Mux(self.keep_zero, (1 << R) - 1, nz) | (pass_end << (R - 1)))
            m.d.sync += [vals.eq(x), pend.eq(new), full.eq(new != 0), hci.eq(nci), hi.eq(ni),
                         hj.eq(nj), hlast.eq(pass_end), hflat.eq(flat)]
            with m.If(flat):
                m.d.sync += nci.eq(Mux(pass_end, 0, nci + R))
            with m.Elif(row_end):
                m.d.sync += nj.eq(0)
                with m.If(map_end):
                    m.d.sync += ni.eq(0)
                    with m.If(pass_end):
                        m.d.sync += nci.eq(0)
                    with m.Else():
                        m.d.sync += nci.eq(nci + 1)
                with m.Else():
                    m.d.sync += ni.eq(ni + 1)
            with m.Else():
                m.d.sync += nj.eq(nj + R)

        with m.If(self.error_clear):
            m.d.sync += self.error.eq(0)
        with m.Elif(self.geom.valid & bad):
            m.d.sync += self.error.eq(1)
        return m
