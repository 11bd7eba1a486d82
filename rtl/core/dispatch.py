"""The sparse core's dispatch: input beats to the lanes' FIFOs.

An input beat carries ``lanes`` slots; lane ``l`` takes slot ``l mod
2**slots`` of its pass, tagged with the pass's context. A beat is taken when
its pass's descriptor has been taken and every lane FIFO has room (a refused
pass's beats are taken and dropped). The lanes then run decoupled, so their
load imbalance evens out over the FIFO depth. An element outside the pass's
input map or channels is delivered as a hole (``valid = 0``) and sets
``ELEMENT``; the beat with ``end`` closes the pass's input.
"""

from amaranth.hdl import Array, Cat, Signal

from .contexts import next_context
from .lane import element_layout

__all__ = ["dispatch"]


def dispatch(m, st):
    """Take input beats from ``x_in`` and push one element into every lane FIFO.

    Adds ``xctx`` (the context the input beats belong to), ``x_open`` (that
    pass is open and its input not ended), ``x_bad`` (it was refused) and
    ``x_end`` (its last beat is taken this cycle); drives ``element_error``.
    """
    core, L, cb = st.core, st.core.lanes, st.core.cb
    st.xctx = xctx = Signal(2)
    xd = Array(st.desc)[xctx]
    st.x_open = x_open = st.ctx_open.bit_select(xctx, 1) & ~st.x_ended.bit_select(xctx, 1)
    st.x_bad = x_bad = st.bad.bit_select(xctx, 1)
    room = Cat(*[q.w_stream.ready for q in st.fifos]).all()
    m.d.comb += core.x_in.ready.eq(x_open & (x_bad | room) & ~st.scrubbing)
    x_take = core.x_in.valid & core.x_in.ready
    push = x_take & ~x_bad
    beat = core.x_in.payload
    st.x_end = x_take & beat.end
    with m.If(st.x_end):
        m.d.sync += xctx.eq(next_context(xctx))
    slots_mask = Signal(range(L))
    m.d.comb += slots_mask.eq((1 << xd.slots) - 1)
    outside = []
    for s in range(L):
        sl = beat.slot[s]
        o = Signal(name=f"outside{s}")
        m.d.comb += o.eq(sl.valid & ((sl.ci >= xd.cin) | (sl.i >= xd.in_h) | (sl.j >= xd.in_w)))
        outside.append(o)
    outside = Cat(*outside)
    with m.If(push & (outside & ((1 << (slots_mask + 1)) - 1)[:L]).any()):
        m.d.comb += st.element_error.eq(1)
    for l, q in enumerate(st.fifos):
        el = Signal(element_layout(core.dw, cb), name=f"el{l}")
        sel = Signal(range(L), name=f"sel{l}")
        m.d.comb += sel.eq(l & slots_mask)
        s = beat.slot[sel]
        m.d.comb += [el.ci.eq(s.ci), el.i.eq(s.i), el.j.eq(s.j), el.value.eq(s.value),
                     el.valid.eq(s.valid & ~outside.bit_select(sel, 1)), el.last.eq(beat.end),
                     el.ctx.eq(xctx)]
        m.d.comb += [q.w_stream.payload.eq(el), q.w_stream.valid.eq(push)]
