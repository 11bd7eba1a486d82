"""ROLIN statistics unit: sums gathered on the store path while a map is written.

Beats of ``lanes`` elements (``data_width`` bits each, lane 0 in the low bits,
NCHW order, so one (sample, channel) map is ``count/lanes`` consecutive beats)
pass from ``i`` to ``o`` unchanged, and the unit sums, per map:

* ``mode`` 1 (FP): ``S1 = Σx``, ``S2 = Σx²`` of ``i.x`` (golden :func:`in_stats`);
* ``mode`` 2 (EP): with ``i.x`` the error ``dy`` and ``i.aux`` the stored IN
  input ``x`` of the same element, ``dpre = dy`` where the forward ReLU mask
  is set and 0 elsewhere, and ``T1 = Σdpre``, ``T2 = Σdpre·x̂``
  (golden :func:`in_backward_stats` on ``np.where(mask, dy, 0)`` and
  :func:`in_xhat`). The mask and ``x̂`` are recomputed from ``x`` with the
  forward table entry of the map (``a, b, rs, k, s1``), read through
  ``fp_rd_addr``/``fp_rd_data``;
* ``mode`` 0: pass-through only.

At the last beat of each map it emits ``{idx, chan, s1, s2, rs, k}`` on
``stats`` (in EP ``s1``/``s2`` carry ``T1``/``T2`` and ``rs``/``k`` the map's
forward values), where ``idx = base + map number`` (the table entry) and
``chan`` the channel (maps go ``chan = 0 .. channels-1`` then the next sample).
``start`` (a pulse) restarts at map 0.

See :class:`RolinStats` for its parameters, ports and latency.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ganforge.golden.instnorm import RSQRT_BITS
from ..refuse import Params
from .arith import fp_entry_layout, lane_pre, lane_xhat, s1_width, K_BITS, SHIFT_BITS

__all__ = ["RolinStats", "stats_layout", "pair_layout", "check_unit_params", "MODE_OFF",
           "MODE_FP", "MODE_EP", "MAX_BEAT_BITS", "MAX_COUNT_BITS"]

MODE_OFF, MODE_FP, MODE_EP = 0, 1, 2

#: The widest beat of ``lanes`` elements: the widest AXI4 data bus.
MAX_BEAT_BITS = 1024
#: Maps of at most ``2**16`` elements: the parameter unit's multiplier, and the engine's
#: 17-bit ``ST_COUNT``/``LD_COUNT`` registers.
MAX_COUNT_BITS = 16


def check_unit_params(p, *, data_width, count_bits, table_depth, lanes=None, chan_bits=None):
    """The parameter rules the ROLIN units share; ``p`` (a :class:`~ganforge.rtl.refuse.Params`)
    refuses the first one broken: ``data_width`` 8 or 16; ``lanes`` (if given) a power of
    two, a beat of at most :data:`MAX_BEAT_BITS` bits; ``count_bits`` 1..16, and maps of at
    least one beat (``2**count_bits >= lanes``); ``table_depth`` 1..65536 (the 16-bit base
    registers); ``chan_bits`` (if given) 1..16 (the 16-bit ``CHANNELS`` and ``GB_ADDR``
    registers)."""
    p.choice("data_width", data_width, (8, 16))
    lo = 1
    if lanes is not None:
        p.pow2("lanes", lanes, 1, MAX_BEAT_BITS // data_width,
               f" (a beat of at most {MAX_BEAT_BITS} bits, the widest AXI data bus)")
        lo = max(1, (lanes - 1).bit_length())
    p.int("count_bits", count_bits, lo, MAX_COUNT_BITS,
          " (maps of at least one beat and at most 2**16 elements)")
    p.int("table_depth", table_depth, 1, 65536)
    if chan_bits is not None:
        p.int("chan_bits", chan_bits, 1, 16)


def pair_layout(data_width, lanes):
    """A beat and its companion beat (EP: the error and the stored IN input)."""
    return data.StructLayout({"x": unsigned(data_width * lanes), "aux": unsigned(data_width * lanes)})


def stats_layout(data_width, count_bits, table_bits, chan_bits):
    return data.StructLayout({
        "idx": unsigned(table_bits), "chan": unsigned(chan_bits),
        "s1": signed(s1_width(data_width, count_bits)),
        "s2": signed(2 * data_width + count_bits + 1),
        "rs": unsigned(RSQRT_BITS + 1), "k": signed(K_BITS),
    })


def _lanes(word, data_width, lanes):
    return [word[i * data_width:(i + 1) * data_width].as_signed() for i in range(lanes)]


class RolinStats(wiring.Component):
    """Per-map sums of the beats on the store path (FP: ``Σx, Σx²``; EP: ``Σdpre,
    Σdpre·x̂``), passing the beats through unchanged.

    Parameters
    ----------
    data_width, lanes, count_bits, table_depth : int
        As :class:`~.norm.RolinNorm`: element width (8 or 16), elements per beat (lane 0 in
        the low bits; a power of two), ``2**count_bits`` elements per map at most (1..16),
        parameter-table entries (1..65536).
    chan_bits : int
        Bits of a channel number, 1..16.

    Members
    -------
    i : :py:`In(stream.Signature(pair_layout(data_width, lanes)))`
        The store path's beats, as :class:`~.norm.RolinNorm`'s ``i``: ``x`` and ``aux``.
    o : :py:`Out(stream.Signature(unsigned(data_width * lanes)))`
        ``i.x``, unchanged.
    stats : :py:`Out(stream.Signature(stats_layout(data_width, count_bits, table_bits, chan_bits)))`
        One record ``{idx, chan, s1, s2, rs, k}`` per map.
    mode : :py:`In(2)`
        :data:`MODE_OFF`, :data:`MODE_FP` or :data:`MODE_EP`.
    count : :py:`In(count_bits + 1)`
        Elements per map.
    channels : :py:`In(chan_bits + 1)`
        Channels per sample (``chan`` wraps to 0 there).
    base : :py:`In(table_bits)`
        Table entry of the first map.
    start : :py:`In(1)`
        A pulse: restart at map 0 (entry ``base``, channel 0).
    scale_frac : :py:`In(6)`
        Fraction bits of ``a``/``b`` (EP: recomputing the forward mask).
    xhat_base : :py:`In(signed(SHIFT_BITS))`
        The shift that recomputes ``x̂`` from ``x`` (EP).
    fp_rd_addr : :py:`Out(table_bits)`
        Read address of the forward table (the next map's entry, read one cycle ahead).
    fp_rd_data : :py:`In(fp_entry_layout(data_width, count_bits))`
        The forward table entry ``{a, b, rs, k, s1}``.
    maps : :py:`Out(32)`
        Maps done since ``start``.

    Latency and throughput
    ----------------------
    Combinational from ``i`` to ``o``; the stats of a map leave the cycle after its last
    beat. One cycle of bubble at the start of every map (while statistics are gathered:
    the table read), and the last beat of a map waits while the previous stats record is
    still unconsumed.

    Bad input
    ---------
    A ``count`` that is not a whole number of beats ends a map at the end of the beat
    that reaches it (the engine refuses such a count, and 0). ``mode`` 3 sums as FP.

    Raises
    ------
    ValueError
        At construction, naming the parameter (:func:`check_unit_params`): ``data_width``
        not 8 or 16, ``lanes`` not a power of two or a beat over 1024 bits, ``count_bits``
        outside 1..16 or too small for one beat (``2**count_bits < lanes``),
        ``table_depth`` outside 1..65536, ``chan_bits`` outside 1..16.
    """

    def __init__(self, *, data_width=16, lanes=4, count_bits=16, table_depth=1024, chan_bits=10):
        check_unit_params(Params(self, "RolinStats"), data_width=data_width, lanes=lanes,
                          count_bits=count_bits, table_depth=table_depth, chan_bits=chan_bits)
        self.data_width, self.lanes, self.count_bits = data_width, lanes, count_bits
        self.table_bits = max(1, (table_depth - 1).bit_length())
        self.chan_bits = chan_bits
        super().__init__({
            "i": In(stream.Signature(pair_layout(data_width, lanes))),
            "o": Out(stream.Signature(unsigned(data_width * lanes))),
            "stats": Out(stream.Signature(stats_layout(data_width, count_bits, self.table_bits,
                                                       chan_bits))),
            "mode": In(2),
            "count": In(count_bits + 1),
            "channels": In(chan_bits + 1),
            "base": In(self.table_bits),
            "start": In(1),
            "scale_frac": In(6),
            "xhat_base": In(signed(SHIFT_BITS)),
            "fp_rd_addr": Out(self.table_bits),
            "fp_rd_data": In(fp_entry_layout(data_width, count_bits)),
            "maps": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        dw, L = self.data_width, self.lanes
        idx = Signal(self.table_bits)
        chan = Signal(self.chan_bits)
        elems = Signal(self.count_bits + 1)
        loaded = Signal()
        acc1 = Signal.like(self.stats.payload.s1)
        acc2 = Signal.like(self.stats.payload.s2)
        maps = Signal(32)
        m.d.comb += [self.fp_rd_addr.eq(idx), self.maps.eq(maps)]
        m.d.sync += loaded.eq(1)

        ent = self.fp_rd_data
        xs = _lanes(self.i.payload.x, dw, L)
        aux = _lanes(self.i.payload.aux, dw, L)
        sum1 = Signal(signed(dw + L.bit_length() + 1))
        sum2 = Signal(signed(2 * dw + L.bit_length() + 2))
        ep = self.mode == 2
        terms1, terms2 = [], []
        for n in range(L):
            pre = lane_pre(m, ent.a, ent.b, aux[n], self.scale_frac, dw, f"l{n}")
            xh = lane_xhat(m, self.count, aux[n], ent.s1, ent.rs, ent.k, self.xhat_base, dw, f"l{n}")
            dpre = Signal(signed(dw), name=f"l{n}_dpre")
            m.d.comb += dpre.eq(Mux(pre > 0, xs[n], 0))
            t1 = Signal(signed(dw), name=f"l{n}_t1")
            t2 = Signal(signed(2 * dw + 1), name=f"l{n}_t2")
            with m.If(ep):
                m.d.comb += [t1.eq(dpre), t2.eq(dpre * xh)]
            with m.Else():
                m.d.comb += [t1.eq(xs[n]), t2.eq(xs[n] * xs[n])]
            terms1.append(t1)
            terms2.append(t2)
        m.d.comb += [sum1.eq(sum(terms1)), sum2.eq(sum(terms2))]

        is_last = elems + L >= self.count
        stats_free = ~self.stats.valid | self.stats.ready
        active = self.mode != 0
        gate = Signal()
        m.d.comb += gate.eq(~active | (loaded & (~is_last | stats_free)))
        m.d.comb += [
            self.o.valid.eq(self.i.valid & gate),
            self.o.payload.eq(self.i.payload.x),
            self.i.ready.eq(self.o.ready & gate),
        ]
        with m.If(self.stats.valid & self.stats.ready):
            m.d.sync += self.stats.valid.eq(0)
        with m.If(self.i.valid & self.i.ready & active):
            with m.If(is_last):
                m.d.sync += [
                    self.stats.valid.eq(1),
                    self.stats.payload.idx.eq(idx), self.stats.payload.chan.eq(chan),
                    self.stats.payload.s1.eq(acc1 + sum1), self.stats.payload.s2.eq(acc2 + sum2),
                    self.stats.payload.rs.eq(ent.rs), self.stats.payload.k.eq(ent.k),
                    acc1.eq(0), acc2.eq(0), elems.eq(0), idx.eq(idx + 1), loaded.eq(0),
                    chan.eq(chan + 1), maps.eq(maps + 1),
                ]
                with m.If(chan + 1 >= self.channels):
                    m.d.sync += chan.eq(0)
            with m.Else():
                m.d.sync += [acc1.eq(acc1 + sum1), acc2.eq(acc2 + sum2), elems.eq(elems + L)]
        with m.If(self.start):
            m.d.sync += [idx.eq(self.base), chan.eq(0), elems.eq(0), acc1.eq(0), acc2.eq(0),
                         loaded.eq(0), maps.eq(0)]
        return m
