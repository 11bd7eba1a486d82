"""The sparse core's retire and drain: passes leave in order, tiles drain through the lanes.

The oldest open pass retires once every lane has finished it and its
geometry figures are in; a refused pass retires once its input has ended. A
pass with ``drain = 1`` ends a tile: before it retires, the core reads the
tile's accumulator words in every lane in lockstep (one word a cycle, at most
``DRAIN_CREDITS`` in flight), each lane adds its bias and sends the sum
through its output stage, and the core sends one output beat (one word per
lane) whenever every lane has one. A tile's drain issues its first word in
the cycle its last pass is found complete, so back-to-back tiles drain with
no gap.
"""

from amaranth.hdl import Array, Cat, Mux, Signal

from .contexts import next_context
from .descriptor import Op
from .lane import NCTX, OUT_FIFO_DEPTH

__all__ = ["retire_and_drain", "outputs", "DRAIN_CREDITS"]

#: Output words a drain keeps in flight per lane (the lane's output FIFO depth).
DRAIN_CREDITS = OUT_FIFO_DEPTH


def retire_and_drain(m, st):
    """Retire the oldest pass, draining its tile if it ends one; advance the context bits.

    Adds ``rctx`` (the oldest context), ``rd`` (its descriptor), ``r_bad``,
    ``r_wg``, ``r_bank``, ``retire`` (it retires this cycle), ``d_oh``,
    ``d_ow`` (the drain's output position), ``d_issue`` (a word is read this
    cycle) and ``inflight`` (words read and not yet sent); drives each lane's
    drain ports and the next state of ``ctx_open`` and ``x_ended``.
    """
    core, cb = st.core, st.core.cb
    full = (1 << core.lanes) - 1
    lg, kk, ctx_open, bad = st.lg, st.kk, st.ctx_open, st.bad
    st.rctx = rctx = Signal(2)
    st.rd = rd = Array(st.desc)[rctx]
    r_open = ctx_open.bit_select(rctx, 1)
    st.r_bad = r_bad = bad.bit_select(rctx, 1)
    r_complete = r_open & ~r_bad & (Array(st.done_mask)[rctx] == full) & \
        st.geo_done.bit_select(rctx, 1)
    st.retire = retire = Signal()
    d_active = Signal()
    d_oh, d_ow = Signal(cb), Signal(cb)
    st.d_oh, st.d_ow = d_oh, d_ow
    d_lin = Signal(core.addr_bits + 1)
    d_last = Signal()
    st.inflight = inflight = Signal(range(DRAIN_CREDITS + 2))
    st.r_wg = r_wg = (rd.op == Op.CONV_WG) | (rd.op == Op.TCONV_WG)
    r_lg = Array(lg)[rctx]
    st.r_bank = r_bank = Array(st.abank)[rctx]
    # A tile's drain issues its first word in the cycle its last pass is found complete,
    # so back-to-back tiles drain without a gap (the counters restart at 0 behind the
    # previous tile's last word).
    d_start = r_complete & ~d_active & rd.drain
    st.d_issue = d_issue = (d_active | d_start) & (inflight < DRAIN_CREDITS)
    d_addr = Signal(core.addr_bits + 1)
    m.d.comb += d_addr.eq(Mux(r_wg, d_lin, (d_oh << r_lg) | d_ow))
    m.d.comb += d_last.eq(Mux(r_wg, d_lin + 1 == rd.cin * Array(kk)[rctx],
                              (d_ow + 1 == rd.out_w) & (d_oh + 1 == rd.out_h)))
    out_fire = core.o.valid & core.o.ready
    m.d.sync += inflight.eq(inflight + d_issue - out_fire)
    for ln in st.lanes:
        m.d.comb += [ln.d_rd.eq(d_issue), ln.d_bank.eq(r_bank), ln.d_addr.eq(d_addr),
                     ln.d_ctx.eq(rctx), ln.d_mask_out.eq(rd.mask_out & ~r_wg),
                     ln.d_audit.eq(~rd.skip_mask),
                     ln.d_shift.eq(rd.shift), ln.d_activation.eq(rd.activation),
                     ln.d_slope.eq(rd.slope)]
    with m.If(r_open & r_bad & st.x_ended.bit_select(rctx, 1)):
        m.d.comb += retire.eq(1)
    with m.Elif(r_complete & ~d_active & ~rd.drain):
        m.d.comb += retire.eq(1)
    with m.If(d_start & ~(d_issue & d_last)):
        m.d.sync += d_active.eq(1)
    with m.If(d_issue):
        with m.If(d_last):
            m.d.sync += [d_active.eq(0), d_lin.eq(0), d_oh.eq(0), d_ow.eq(0)]
            m.d.comb += retire.eq(1)
        with m.Else():
            m.d.sync += d_lin.eq(d_lin + 1)
            with m.If(d_ow + 1 == rd.out_w):
                m.d.sync += [d_ow.eq(0), d_oh.eq(d_oh + 1)]
            with m.Else():
                m.d.sync += d_ow.eq(d_ow + 1)
    with m.If(retire):
        m.d.sync += rctx.eq(next_context(rctx))
    # Each context bit has one next-state expression: a descriptor can be taken, another
    # pass's last beat arrive and a third pass retire in the same cycle.
    for c in range(NCTX):
        opened = st.desc_take & (st.next_ctx == c)
        m.d.sync += [ctx_open[c].eq(opened | (ctx_open[c] & ~(retire & (rctx == c)))),
                     st.x_ended[c].eq((st.x_end & (st.xctx == c)) | (st.x_ended[c] & ~opened))]


def outputs(m, st):
    """The output stream: one word per lane, the lanes in lockstep (a beat is sent when
    every lane has a word)."""
    core, lanes = st.core, st.lanes
    all_valid = Cat(*[ln.o.valid for ln in lanes]).all()
    m.d.comb += core.o.valid.eq(all_valid)
    for l, ln in enumerate(lanes):
        m.d.comb += [core.o.payload[l].eq(ln.o.payload), ln.o.ready.eq(all_valid & core.o.ready)]
