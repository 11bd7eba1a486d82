"""The sparse core's counters: work (MACs issued and skipped, EORS audit) and cycles.

All count since reset; the work counters are 48 bits, the cycle counters 32.
What each one counts is listed in :class:`~.core.SparseCore`.
"""

from amaranth.hdl import Array, Cat, Signal

from .descriptor import Op
from .intake import SETUP, WEIGHTS
from .lane import AXIS_LAYOUT, axis_taps

__all__ = ["work_counters", "cycle_counters", "popcount"]


def popcount(v):
    """The number of set bits of ``v`` (an adder tree)."""
    return sum(v[n] for n in range(len(v)))


def work_counters(m, st):
    """``macs_issued``, ``dense_macs``, ``zero_insertion_skipped`` (per retired pass, from
    the geometry unit), ``output_mask_skipped`` (word by word as a tile drains),
    ``input_zero_skipped`` (their difference), ``false_zero`` and ``missed_zero``."""
    core, L = st.core, st.core.lanes
    lanes, rctx, rd, r_wg = st.lanes, st.rctx, st.rd, st.r_wg
    issues = Cat(*[ln.issue for ln in lanes])
    m.d.sync += core.macs_issued.eq(core.macs_issued + popcount(issues))
    r_en = Signal(L)
    for l, ln in enumerate(lanes):
        m.d.comb += r_en[l].eq(ln.enabled.bit_select(rctx, 1))
    with m.If(st.retire & ~st.r_bad):
        n_en = popcount(r_en)
        m.d.sync += [core.dense_macs.eq(core.dense_macs + n_en * Array(st.geo_dense)[rctx]),
                     core.zero_insertion_skipped.eq(core.zero_insertion_skipped +
                                                    n_en * Array(st.geo_zi)[rctx])]
    # Masked outputs, word by word as they drain: enabled lanes whose mask bit is off,
    # times the dense taps of that output (row taps · column taps · the tile's cin).
    d_cfg = Signal(AXIS_LAYOUT)
    m.d.comb += [d_cfg.transposed.eq(rd.op == Op.TCONV), d_cfg.kernel.eq(rd.kernel),
                 d_cfg.stride.eq(rd.stride), d_cfg.padding.eq(rd.padding)]
    d_rt = axis_taps(m, "d_row", st.d_oh, rd.in_h, d_cfg, core.kmax)
    d_ct = axis_taps(m, "d_col", st.d_ow, rd.in_w, d_cfg, core.kmax)
    dk_fac = Signal(24)
    dk_valid = Signal()
    dk_en = Signal(L)
    m.d.sync += [dk_valid.eq(st.d_issue & rd.skip_mask & ~r_wg), dk_en.eq(r_en),
                 dk_fac.eq(d_rt * d_ct * Array(st.tile_cin)[st.r_bank])]
    keep = Cat(*[ln.d_keep for ln in lanes])
    with m.If(dk_valid):
        m.d.sync += core.output_mask_skipped.eq(core.output_mask_skipped +
                                                popcount(dk_en & ~keep) * dk_fac)
    m.d.comb += core.input_zero_skipped.eq(core.dense_macs - core.output_mask_skipped -
                                           core.macs_issued)
    # Audited passes (mask applied at the drain, every tap computed): EORS's false and
    # missed zeros, as the lanes write their outputs.
    m.d.sync += [core.false_zero.eq(core.false_zero +
                                    popcount(Cat(*[ln.false_zero for ln in lanes]))),
                 core.missed_zero.eq(core.missed_zero +
                                     popcount(Cat(*[ln.missed_zero for ln in lanes])))]


def cycle_counters(m, st):
    """``busy``, and ``cycles_busy``, ``cycles_stalled`` and ``cycles_idle``.

    Busy: a pass is open, loads are expected, words are in flight in a drain,
    the geometry unit runs, or a lane FIFO holds elements (``busy`` is also high
    during the scrub after a reset, which the counters leave out). Stalled (while
    busy): a lane waits for an operand word (``blocked``), for an input beat
    the stream has not delivered, or for its pass's setup beats.
    """
    core, lanes, fifos = st.core, st.lanes, st.fifos
    busy = Signal()
    fifo_data = Cat(*[q.r_stream.valid for q in fifos]).any()
    m.d.comb += busy.eq(st.ctx_open.any() | (st.cmode == SETUP) | (st.cmode == WEIGHTS) |
                        (st.inflight != 0) | st.geom_busy | fifo_data)
    m.d.comb += core.busy.eq(busy | st.scrubbing)
    blocked = Cat(*[ln.blocked for ln in lanes]).any()
    starved = Cat(*[ln.waiting & ~q.r_stream.valid for ln, q in zip(lanes, fifos)]).any() & \
        st.x_open & ~st.x_bad & ~core.x_in.valid
    setup_wait = Cat(*[q.r_stream.valid & ~ln.x_in.ready & ln.waiting
                       for ln, q in zip(lanes, fifos)]).any()
    with m.If(st.scrubbing):
        pass                        # the scrub after a reset: counted as neither
    with m.Elif(busy):
        m.d.sync += core.cycles_busy.eq(core.cycles_busy + 1)
        with m.If(blocked | starved | setup_wait):
            m.d.sync += core.cycles_stalled.eq(core.cycles_stalled + 1)
    with m.Else():
        m.d.sync += core.cycles_idle.eq(core.cycles_idle + 1)
