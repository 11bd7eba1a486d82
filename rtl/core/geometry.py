"""The sparse core's geometry unit: the dense and zero-insertion MACs of each pass.

When a descriptor is taken, a small sequential unit computes, per enabled
lane, the MACs the pass would take with no skipping and, for a transposed
FP/EP pass, the MACs a naive engine spends on the inserted zeros:

* ``RS``, ``CS``: the output-side tap counts of every row and column
  (:func:`~.lane.axis_taps`), summed one row and one column a cycle;
* ``dense = cin·RS·CS``;
* ``zero_insertion = cin·out_h·out_w·K² − dense`` (transposed FP/EP, else 0).

One shared multiplier; about ``max(out_h, out_w) + 4`` cycles a pass. The
intake takes no descriptor while the unit is busy, and a pass retires only
once its figures are in (``geo_done``).
"""

from amaranth.hdl import Array, Mux, Signal

from .descriptor import Op
from .lane import AXIS_LAYOUT, NCTX, axis_taps

__all__ = ["geometry"]


def geometry(m, st):
    """The geometry FSM. Starts on ``geom_start`` for context ``next_ctx``; drives
    ``geom_busy``. Adds ``geo_dense[c]``, ``geo_zi[c]`` (per-lane dense and
    zero-insertion MACs of context ``c``) and ``geo_done`` (one bit a context)."""
    core, cb = st.core, st.core.cb
    next_ctx, geom_start = st.next_ctx, st.geom_start
    st.geo_dense = geo_dense = [Signal(40, name=f"geo_dense{c}") for c in range(NCTX)]
    st.geo_zi = geo_zi = [Signal(40, name=f"geo_zi{c}") for c in range(NCTX)]
    st.geo_done = geo_done = Signal(NCTX)
    g_ctx = Signal(2)
    g_r = Signal(cb)
    g_rs = Signal(cb + 4)
    g_cs = Signal(cb + 4)
    g_t1 = Signal(40)
    g_t2 = Signal(40)
    gd = Array(st.desc)[g_ctx]
    g_cfg = Signal(AXIS_LAYOUT)
    m.d.comb += [g_cfg.transposed.eq((gd.op == Op.TCONV) | (gd.op == Op.TCONV_WG)),
                 g_cfg.kernel.eq(gd.kernel), g_cfg.stride.eq(gd.stride),
                 g_cfg.padding.eq(gd.padding)]
    g_rt = axis_taps(m, "g_row", g_r, gd.in_h, g_cfg, core.kmax)
    g_ct = axis_taps(m, "g_col", g_r, gd.in_w, g_cfg, core.kmax)
    g_mul_a = Signal(40)
    g_mul_b = Signal(24)
    g_prod = Signal(64)
    m.d.comb += g_prod.eq(g_mul_a * g_mul_b)
    with m.If(geom_start):
        m.d.sync += geo_done.eq(geo_done & ~(1 << next_ctx))
    with m.FSM(name="geom") as geom:
        with m.State("IDLE"):
            with m.If(geom_start):
                m.d.sync += [g_ctx.eq(next_ctx), g_r.eq(0), g_rs.eq(0), g_cs.eq(0)]
                m.next = "SUM"
        with m.State("SUM"):
            m.d.sync += [g_rs.eq(g_rs + Mux(g_r < gd.out_h, g_rt, 0)),
                         g_cs.eq(g_cs + Mux(g_r < gd.out_w, g_ct, 0)), g_r.eq(g_r + 1)]
            with m.If((g_r + 1 >= gd.out_h) & (g_r + 1 >= gd.out_w)):
                m.next = "RSCS"
        with m.State("RSCS"):          # t1 = RS·CS (dense MACs of one channel)
            m.d.comb += [g_mul_a.eq(g_rs), g_mul_b.eq(g_cs)]
            m.d.sync += g_t1.eq(g_prod)
            m.next = "DENSE"
        with m.State("DENSE"):         # t1 = cin·RS·CS;  t2 = out_h·out_w
            m.d.comb += [g_mul_a.eq(g_t1), g_mul_b.eq(gd.cin)]
            m.d.sync += [g_t1.eq(g_prod), g_t2.eq(gd.out_h * gd.out_w)]
            m.next = "KK"
        with m.State("KK"):            # t2 = out_h·out_w·K²
            m.d.comb += [g_mul_a.eq(g_t2), g_mul_b.eq(Array(st.kk)[g_ctx])]
            m.d.sync += g_t2.eq(g_prod)
            m.next = "ZI"
        with m.State("ZI"):            # cin·out_h·out_w·K² − dense, transposed FP/EP only
            m.d.comb += [g_mul_a.eq(g_t2), g_mul_b.eq(gd.cin)]
            for c in range(NCTX):
                with m.If(g_ctx == c):
                    m.d.sync += [geo_dense[c].eq(g_t1),
                                 geo_zi[c].eq(Mux(gd.op == Op.TCONV, g_prod - g_t1, 0)),
                                 geo_done[c].eq(1)]
            m.next = "IDLE"

    # Outside the FSM, so it is a continuous assignment: Icarus does not evaluate
    # ``always @*`` blocks at time 0, and this gates the first descriptor.
    m.d.comb += st.geom_busy.eq(~geom.ongoing("IDLE"))
