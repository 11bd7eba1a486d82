"""The sparse core's command intake: taking a descriptor into the next pass context.

A ``DESC`` is taken when its context is free (the pass three before it has
retired), the geometry unit is idle, the previous pass's loads are complete,
the accumulator bank of a new tile is free, and, if it loads operands, no
computing pass reads that operand bank. It is checked in the cycle it is
taken (:func:`descriptor_error`, the RTL twin of
:func:`~.descriptor.check_descriptor`); a refused descriptor marks its
context ``bad`` and its loads are dropped.
"""

from amaranth.hdl import Array, Cat, Mux, Signal

from .contexts import next_context
from .descriptor import CmdKind, Error, Op
from .lane import NBANK, NCTX

__all__ = ["descriptor_error", "intake", "SETUP", "WEIGHTS", "NONE", "DROP"]

#: What the load beats after the last descriptor are for (``cmode``): its setup beats, its
#: operand words, nothing (a load is an error), or dropped (its descriptor was refused).
SETUP, WEIGHTS, NONE, DROP = 0, 1, 2, 3


def descriptor_error(m, core, d, lg):
    """Combinational :class:`~.descriptor.Error` code of descriptor ``d`` (the rules of
    :func:`~.descriptor.check_descriptor` for ``core``'s parameters), and the operand
    words the pass needs. ``lg`` is its row pitch."""
    code = Signal(4)
    wg = (d.op == Op.CONV_WG) | (d.op == Op.TCONV_WG)
    words = Signal(2 * core.cb + 8)
    taps = Signal(2 * core.cb + 8)
    acc_words = Signal(2 * core.cb + 8)
    op_words = Signal(2 * core.cb + 8)
    m.d.comb += [words.eq(d.out_h << lg), taps.eq(d.cin * d.kernel * d.kernel),
                 acc_words.eq(Mux(wg, taps, words)), op_words.eq(Mux(wg, words, taps))]
    with m.If((d.kernel == 0) | (d.kernel > core.kmax)):
        m.d.comb += code.eq(Error.KERNEL)
    with m.Elif((d.stride == 0) | (d.stride == 3) | (d.stride > core.smax)):
        m.d.comb += code.eq(Error.STRIDE)
    with m.Elif(d.padding >= d.kernel):
        m.d.comb += code.eq(Error.PADDING)
    with m.Elif((d.out_h == 0) | (d.out_w == 0) | (d.in_h == 0) | (d.in_w == 0) | (d.cin == 0)):
        m.d.comb += code.eq(Error.SIZE)
    with m.Elif((acc_words > core.out_depth) | (words > core.out_depth)):
        m.d.comb += code.eq(Error.OUT_SIZE)
    with m.Elif(op_words > core.weight_depth):
        m.d.comb += code.eq(Error.WEIGHT_SIZE)
    with m.Elif(d.activation == 3):
        m.d.comb += code.eq(Error.ACTIVATION)
    with m.Elif((1 << d.slots) > core.lanes):
        m.d.comb += code.eq(Error.SLOTS)
    with m.Elif(d.shift >= core.aw):
        m.d.comb += code.eq(Error.SHIFT)
    return code, op_words


def intake(m, st):
    """Take descriptors from ``cmd`` into the next context, and decide ``cmd.ready``.

    Adds ``next_ctx`` (context of the next descriptor), ``cctx`` (the context
    the loads go to: the last descriptor's), ``cur_abank`` and ``tile_open``
    (the current tile's accumulator bank, and whether it has passes and has
    not drained), ``tile_cin[b]`` (the input channels of bank ``b``'s tile),
    ``wcount[b]`` (operand words in bank ``b``: each lane's ``wmark``),
    ``wneed``, ``cmode`` (:data:`SETUP`, :data:`WEIGHTS`, :data:`NONE`,
    :data:`DROP`), ``is_desc``, ``is_load``, ``loads_short`` (the last pass
    still expects loads), ``desc_take`` and ``abandon`` (driven by
    :mod:`.loads`); and ``geom_busy`` and ``geom_start``, shared with
    :mod:`.geometry`, which drives ``geom_busy``.
    """
    core, lanes, cb = st.core, st.lanes, st.core.cb
    desc, lg, kk, abank, ctx_open, bad = st.desc, st.lg, st.kk, st.abank, st.ctx_open, st.bad
    cmd = core.cmd.payload
    st.next_ctx = Signal(2)              # context of the next descriptor
    st.cctx = Signal(2)                  # context the loads go to (the last descriptor)
    st.cur_abank = Signal(2)             # accumulator bank of the current tile
    st.tile_open = Signal()              # the current tile has passes and has not drained
    st.tile_cin = [Signal(16, name=f"tile_cin{b}") for b in range(NBANK)]
    st.wcount = [Signal(core.addr_bits + 1, name=f"wcount{b}") for b in range(2)]
    st.wneed = Signal(core.addr_bits + 1)
    next_ctx, cctx, cur_abank, tile_open = st.next_ctx, st.cctx, st.cur_abank, st.tile_open
    tile_cin, wcount, wneed = st.tile_cin, st.wcount, st.wneed
    for ln in lanes:
        m.d.comb += [ln.wmark[0].eq(wcount[0]), ln.wmark[1].eq(wcount[1])]

    nd = cmd.desc
    nd_lg = Signal(4)                 # pitch: the bit length of out_w - 1
    for b in range(cb):
        with m.If((nd.out_w - 1)[b]):
            m.d.comb += nd_lg.eq(b + 1)
    code, nd_op_words = descriptor_error(m, core, nd, nd_lg)
    reuse_short = ~nd.wload & (Array(wcount)[nd.wbank] < nd_op_words)

    bank_busy = Signal(NBANK)
    for b in range(NBANK):
        m.d.comb += bank_busy[b].eq(Cat(*[ctx_open[c] & ~bad[c] & (abank[c] == b)
                                          for c in range(NCTX)]).any())
    wbank_busy = Signal(2)
    for b in range(2):
        m.d.comb += wbank_busy[b].eq(Cat(*[st.computing[c] & (desc[c].wbank == b)
                                           for c in range(NCTX)]).any())

    st.cmode = cmode = Signal(2, init=NONE)
    st.geom_busy = Signal()
    st.geom_start = Signal()
    valid = core.cmd.valid & ~st.scrubbing          # nothing is taken during the scrub
    st.is_desc = is_desc = valid & (cmd.kind == CmdKind.DESC)
    st.is_load = is_load = valid & (cmd.kind != CmdKind.DESC)
    st.loads_short = loads_short = (cmode == SETUP) | (cmode == WEIGHTS)
    can_take = ~ctx_open.bit_select(next_ctx, 1) & ~st.geom_busy & ~loads_short & \
        (tile_open | ~bank_busy.bit_select(cur_abank, 1)) & \
        ~(nd.wload & wbank_busy.bit_select(nd.wbank, 1))
    st.desc_take = desc_take = is_desc & can_take
    m.d.comb += core.cmd.ready.eq(is_load | (is_desc & can_take))

    # A protocol error while a pass still expects loads (a descriptor too early, a load
    # of the wrong kind, an operand word out of order) abandons the rest of its loads:
    # LOAD is set and the pass runs with what it has, so nothing waits forever.
    st.abandon = Signal()
    with m.If(st.abandon):
        m.d.comb += st.load_error.eq(1)
        m.d.sync += Array(st.pre_cnt)[cctx].eq(Array(desc)[cctx].nloads)
        with m.If(Array(desc)[cctx].wload):
            m.d.sync += Array(wcount)[Array(desc)[cctx].wbank].eq(wneed)

    for ln in lanes:
        m.d.comb += [ln.ctx_reset.eq(desc_take & (code == Error.NONE) & ~reuse_short),
                     ln.ctx_reset_id.eq(next_ctx)]
    with m.If(desc_take):
        m.d.sync += [next_ctx.eq(next_context(next_ctx)), cctx.eq(next_ctx)]
        with m.If((code != Error.NONE) | reuse_short):
            m.d.comb += st.desc_error.eq(Mux(code != Error.NONE, code, Error.REUSE))
            m.d.sync += cmode.eq(DROP)
            for c in range(NCTX):
                with m.If(next_ctx == c):
                    m.d.sync += bad[c].eq(1)
        with m.Else():
            m.d.comb += st.geom_start.eq(1)
            for c in range(NCTX):
                with m.If(next_ctx == c):
                    m.d.sync += [desc[c].eq(nd), lg[c].eq(nd_lg), kk[c].eq(nd.kernel * nd.kernel),
                                 bad[c].eq(0), st.pre_cnt[c].eq(0), st.done_mask[c].eq(0),
                                 abank[c].eq(cur_abank)]
            for b in range(NBANK):
                with m.If(cur_abank == b):
                    m.d.sync += tile_cin[b].eq(Mux(tile_open, tile_cin[b] + nd.cin, nd.cin))
            with m.If(nd.drain):
                m.d.sync += [cur_abank.eq(Mux(cur_abank == NBANK - 1, 0, cur_abank + 1)),
                             tile_open.eq(0)]
            with m.Else():
                m.d.sync += tile_open.eq(1)
            with m.If(nd.wload):
                m.d.sync += [Array(wcount)[nd.wbank].eq(0), wneed.eq(nd_op_words)]
            with m.If(nd.nloads != 0):
                m.d.sync += cmode.eq(SETUP)
            with m.Elif(nd.wload):
                m.d.sync += cmode.eq(WEIGHTS)
            with m.Else():
                m.d.sync += cmode.eq(NONE)
