"""ROLIN normalise/activate unit: applied on the load path as data streams to the core.

Beats of ``lanes`` elements arrive on ``i`` in NCHW order, one (sample,
channel) map every ``count/lanes`` beats; the unit looks up the map's table
entry (``idx = base + map number``) and emits per element:

* ``mode`` 0 (bypass): the element unchanged, mask 0;
* ``mode`` 1 (FP): ``pre = requantize(a·x + b, scale_frac)``, the value ReLU(pre)
  (``relu`` set) or ``pre``, and the mask ``pre > 0``
  (golden :func:`in_apply`);
* ``mode`` 2 (EP): with ``i.x`` the error ``dy`` at the IN+ReLU output and
  ``i.aux`` the stored IN input ``x``: the forward mask ``pre > 0`` recomputed
  from ``x``, ``dpre = dy`` where it is set, else 0 (the ReLU backward),
  ``x̂`` recomputed from ``x``, and ``dx = requantize(c1·dpre + c2·x̂ + c3,
  coef_frac)`` (golden :func:`in_backward_apply`); the mask goes out too.

Table entries come through ``fp_rd_*`` (``a, b, rs, k, s1``) and ``ep_rd_*``
(``c1, c2, c3``). ``start`` (a pulse) restarts at map 0.

See :class:`RolinNorm` for its parameters, ports and latency.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus.ld_adapter import load_layout
from ..core.output_stage import shift_round_hw
from .arith import (SHIFT_BITS, ep_entry_layout, fp_entry_layout, lane_pre, lane_xhat,
                          saturate_hw)
from ..refuse import Params
from .stats import check_unit_params, pair_layout

__all__ = ["RolinNorm"]


class RolinNorm(wiring.Component):
    """Normalise and activate (FP) or correct (EP) beats of ``lanes`` elements on the load path,
    one table entry per (sample, channel) map.

    Parameters
    ----------
    data_width : int
        Element width, 8 or 16.
    lanes : int
        Elements per beat (lane 0 in the low bits); a power of two, a beat of at most
        1024 bits.
    count_bits : int
        Maps hold at most ``2**count_bits`` elements (1..16, and at least one beat).
    table_depth : int
        Entries of the parameter tables, 1..65536.

    Members
    -------
    i : :py:`In(stream.Signature(pair_layout(data_width, lanes)))`
        ``x`` (the data; EP: the error ``dy``) and ``aux`` (EP: the stored IN input).
    o : :py:`Out(stream.Signature(load_layout(data_width, lanes)))`
        The elements out, each with its ReLU mask bit (0 in bypass).
    mode : :py:`In(2)`
        0 bypass, 1 FP, 2 EP.
    relu : :py:`In(1)`
        FP: apply the ReLU.
    count : :py:`In(count_bits + 1)`
        Elements per map.
    base : :py:`In(table_bits)`
        Table entry of the first map.
    start : :py:`In(1)`
        A pulse: restart at map 0 (entry ``base``).
    scale_frac, coef_frac : :py:`In(6)`
        Fraction bits of ``a``/``b`` (FP) and of ``c1``..``c3`` (EP).
    xhat_base : :py:`In(signed(SHIFT_BITS))`
        The shift that recomputes ``x̂`` from ``x`` (EP).
    fp_rd_addr : :py:`Out(table_bits)`
        Read address of the forward table (the map's entry, read one cycle ahead).
    fp_rd_data : :py:`In(fp_entry_layout(data_width, count_bits))`
        The forward table entry ``{a, b, rs, k, s1}``.
    ep_rd_addr : :py:`Out(table_bits)`
        Read address of the backward table.
    ep_rd_data : :py:`In(ep_entry_layout())`
        The backward table entry ``{c1, c2, c3}``.
    maps : :py:`Out(32)`
        Maps done since ``start``.

    Latency and throughput
    ----------------------
    1 cycle (one output register; one beat per cycle), plus one cycle of bubble at the
    start of each map while its table entry is read (none in bypass).

    Bad input
    ---------
    Results saturate to ``data_width`` bits. A ``count`` that is not a whole number of
    beats ends a map at the end of the beat that reaches it (the engine refuses such a
    count, and 0). ``mode`` 3 passes the elements through, with the FP mask.

    Raises
    ------
    ValueError
        At construction, naming the parameter (:func:`~.stats.check_unit_params`):
        ``data_width`` not 8 or 16, ``lanes`` not a power of two or a beat over 1024 bits,
        ``count_bits`` outside 1..16 or too small for one beat (``2**count_bits < lanes``),
        ``table_depth`` outside 1..65536.
    """

    def __init__(self, *, data_width=16, lanes=4, count_bits=16, table_depth=1024):
        check_unit_params(Params(self, "RolinNorm"), data_width=data_width, lanes=lanes,
                          count_bits=count_bits, table_depth=table_depth)
        self.data_width, self.lanes, self.count_bits = data_width, lanes, count_bits
        self.table_bits = max(1, (table_depth - 1).bit_length())
        super().__init__({
            "i": In(stream.Signature(pair_layout(data_width, lanes))),
            "o": Out(stream.Signature(load_layout(data_width, lanes))),
            "mode": In(2),
            "relu": In(1),
            "count": In(count_bits + 1),
            "base": In(self.table_bits),
            "start": In(1),
            "scale_frac": In(6),
            "coef_frac": In(6),
            "xhat_base": In(signed(SHIFT_BITS)),
            "fp_rd_addr": Out(self.table_bits),
            "fp_rd_data": In(fp_entry_layout(data_width, count_bits)),
            "ep_rd_addr": Out(self.table_bits),
            "ep_rd_data": In(ep_entry_layout()),
            "maps": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        dw, L = self.data_width, self.lanes
        idx = Signal(self.table_bits)
        elems = Signal(self.count_bits + 1)
        loaded = Signal()
        maps = Signal(32)
        m.d.comb += [self.fp_rd_addr.eq(idx), self.ep_rd_addr.eq(idx), self.maps.eq(maps)]
        m.d.sync += loaded.eq(1)

        fp, ep = self.fp_rd_data, self.ep_rd_data
        values, masks = [], []
        for n in range(L):
            x = self.i.payload.x[n * dw:(n + 1) * dw].as_signed()
            aux = self.i.payload.aux[n * dw:(n + 1) * dw].as_signed()
            src = Mux(self.mode == 2, aux, x)
            pre = lane_pre(m, fp.a, fp.b, src, self.scale_frac, dw, f"l{n}")
            mask = Signal(name=f"l{n}_mask")
            m.d.comb += mask.eq(pre > 0)
            xh = lane_xhat(m, self.count, aux, fp.s1, fp.rs, fp.k, self.xhat_base, dw, f"l{n}")
            dpre = Signal(signed(dw), name=f"l{n}_dpre")
            m.d.comb += dpre.eq(Mux(mask, x, 0))
            acc = Signal(signed(2 * dw + 32 + 2), name=f"l{n}_dxacc")
            dx = Signal(signed(dw), name=f"l{n}_dx")
            m.d.comb += [
                acc.eq(ep.c1 * dpre + ep.c2 * xh + ep.c3),
                dx.eq(saturate_hw(shift_round_hw(acc, self.coef_frac, len(acc) + 1), dw)),
            ]
            value = Signal(signed(dw), name=f"l{n}_value")
            with m.Switch(self.mode):
                with m.Case(1):
                    m.d.comb += value.eq(Mux(self.relu & ~mask, 0, pre))
                with m.Case(2):
                    m.d.comb += value.eq(dx)
                with m.Default():
                    m.d.comb += value.eq(x)
            values.append(value)
            masks.append(mask & (self.mode != 0))

        gate = (self.mode == 0) | loaded
        advance = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(advance & gate)
        with m.If(advance):
            m.d.sync += self.o.valid.eq(self.i.valid & gate)
            for n in range(L):
                m.d.sync += [self.o.payload.data[n * dw:(n + 1) * dw].eq(values[n]),
                             self.o.payload.mask[n].eq(masks[n])]
        with m.If(self.i.valid & self.i.ready & (self.mode != 0)):
            with m.If(elems + L >= self.count):
                m.d.sync += [elems.eq(0), idx.eq(idx + 1), loaded.eq(0), maps.eq(maps + 1)]
            with m.Else():
                m.d.sync += elems.eq(elems + L)
        with m.If(self.start):
            m.d.sync += [idx.eq(self.base), elems.eq(0), loaded.eq(0), maps.eq(0)]
        return m
