"""The sparse core's pass contexts and its error register: the state its other parts share.

A *context* (0..``NCTX``−1) holds one pass in flight: its descriptor, the
row pitch and ``K²`` derived from it, its accumulator bank, the setup beats
it has received and the lanes that have finished it. Contexts are used round
robin: :mod:`.intake` fills the next one, :mod:`.dispatch` feeds elements
tagged with it to the lanes, and :mod:`.retire` frees the oldest.

The parts of :meth:`SparseCore.elaborate <.core.SparseCore.elaborate>` build
one :class:`~amaranth.hdl.Module` in a fixed order and pass a
:class:`CoreState` along: each part reads what earlier parts created and adds
the signals it creates. Nothing here is a submodule of its own, so the
netlist is that of one flat component.
"""

from amaranth.hdl import Cat, Mux, Signal

from .descriptor import Error, Op
from .lane import NCTX

__all__ = ["CoreState", "next_context", "error_register", "pass_contexts", "record_done"]


class CoreState:
    """What the parts of one :class:`~.core.SparseCore` elaboration share.

    Parameters
    ----------
    core : SparseCore
        The component being elaborated (its parameters and ports).
    lanes : list of ScatterLane
        Its lanes, in lane order.
    fifos : list of SyncFIFOBuffered
        The input FIFO in front of each lane.

    Each part adds the signals it creates as attributes of the same name (the
    name the signal carries in the netlist); a part's docstring lists those it
    adds and those it drives on behalf of another part.
    """

    def __init__(self, core, lanes, fifos):
        self.core, self.lanes, self.fifos = core, lanes, fifos


def next_context(c):
    """The context after ``c`` (round robin over ``NCTX``)."""
    return Mux(c == NCTX - 1, 0, c + 1)


def error_register(m, st):
    """The sticky ``error`` register and ``irq``.

    At most one new error is recorded a cycle, in priority order descriptor,
    load, element; the first error sticks until ``error_clear``. Adds
    ``desc_error`` (an :class:`~.descriptor.Error` code, driven by
    :mod:`.intake`), ``load_error`` (driven by :mod:`.intake` and
    :mod:`.loads`) and ``element_error`` (driven by :mod:`.dispatch`).
    """
    core = st.core
    m.d.comb += core.irq.eq(core.error != 0)
    new_error = Signal(4)             # at most one new error a cycle; the first sticks
    with m.If(core.error_clear):
        m.d.sync += core.error.eq(0)
    with m.Elif((core.error == 0) & (new_error != 0)):
        m.d.sync += core.error.eq(new_error)
    st.element_error = Signal()
    st.load_error = Signal()
    st.desc_error = Signal(4)
    with m.If(st.desc_error != 0):
        m.d.comb += new_error.eq(st.desc_error)
    with m.Elif(st.load_error):
        m.d.comb += new_error.eq(Error.LOAD)
    with m.Elif(st.element_error):
        m.d.comb += new_error.eq(Error.ELEMENT)


def pass_contexts(m, st):
    """The ``NCTX`` pass contexts, and each lane's view of them (its ``cfg`` ports).

    Adds, per context ``c``: ``desc[c]`` (the descriptor), ``lg[c]`` (row
    pitch), ``kk[c]`` (``K²``), ``pre_cnt[c]`` (setup beats received),
    ``abank[c]`` (accumulator bank), ``done_mask[c]`` (lanes that finished
    the pass); and one bit per context in ``ctx_open`` (taken, not yet
    retired), ``bad`` (refused: its beats are dropped), ``x_ended`` (its last
    input beat was taken), ``setup_done`` and ``computing`` (open, good, and
    some lane still busy with it).
    """
    core, L = st.core, st.core.lanes
    dl = core.desc_layout
    full = (1 << L) - 1
    st.desc = [Signal(dl, name=f"desc{c}") for c in range(NCTX)]
    st.lg = [Signal(4, name=f"lg{c}") for c in range(NCTX)]
    st.kk = [Signal(6, name=f"kk{c}") for c in range(NCTX)]
    st.ctx_open = Signal(NCTX)           # taken and not yet retired
    st.bad = Signal(NCTX)                # refused: its beats are dropped
    st.x_ended = Signal(NCTX)            # its last input beat was taken
    st.pre_cnt = [Signal(dl["nloads"].shape, name=f"pre{c}") for c in range(NCTX)]
    st.abank = [Signal(2, name=f"abank{c}") for c in range(NCTX)]
    st.done_mask = [Signal(L, name=f"done{c}") for c in range(NCTX)]
    st.setup_done = Signal(NCTX)
    st.computing = Signal(NCTX)
    desc, done_mask = st.desc, st.done_mask
    for c in range(NCTX):
        m.d.comb += [st.setup_done[c].eq(st.pre_cnt[c] == desc[c].nloads),
                     st.computing[c].eq(st.ctx_open[c] & ~st.bad[c] & (done_mask[c] != full))]

    for ln in st.lanes:
        for c in range(NCTX):
            d, cfg = desc[c], ln.cfg[c]
            m.d.comb += [
                cfg.transposed.eq((d.op == Op.TCONV) | (d.op == Op.TCONV_WG)),
                cfg.wg.eq((d.op == Op.CONV_WG) | (d.op == Op.TCONV_WG)),
                cfg.kernel.eq(d.kernel), cfg.kk.eq(st.kk[c]), cfg.stride.eq(d.stride),
                cfg.padding.eq(d.padding), cfg.out_h.eq(d.out_h), cfg.out_w.eq(d.out_w),
                cfg.lg.eq(st.lg[c]), cfg.skip_zero.eq(d.skip_zero), cfg.skip_mask.eq(d.skip_mask),
                cfg.wbank.eq(d.wbank), cfg.abank.eq(st.abank[c]),
                cfg.setup_done.eq(st.setup_done[c]),
            ]


def record_done(m, st):
    """Collect the lanes' ``done`` pulses into ``done_mask`` of the context they name.

    Built after :mod:`.intake`, which clears ``done_mask`` when it fills a
    context: this update takes priority over that clear.
    """
    for c in range(NCTX):
        hits = Cat(*[ln.done & (ln.done_ctx == c) for ln in st.lanes])
        with m.If(hits.any()):
            m.d.sync += st.done_mask[c].eq(st.done_mask[c] | hits)
