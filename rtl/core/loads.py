"""The sparse core's loads: setup beats and operand words, from the command stream to the lanes.

After a descriptor come its ``nloads`` setup beats (``ENABLE``, ``BIAS``,
``MASK``, into the context of every lane whose ``en`` bit is set), then, if
it has ``wload``, its operand words (``WEIGHT``) in address order from 0,
into the operand bank it names. Load beats are never held up: a load no pass
announced sets ``LOAD`` and is dropped; one of the wrong kind or out of
address order while the pass still expects loads abandons the rest of them
(``LOAD``, see :mod:`.intake`).
"""

from amaranth.hdl import Array, Mux, Signal

from .descriptor import CmdKind, MASK_WORD
from .intake import NONE, SETUP, WEIGHTS, DROP

__all__ = ["loads"]


def loads(m, st):
    """Route load beats to the lanes' load ports and count them.

    Reads the contexts and the intake's ``cctx``, ``cmode``, ``wcount`` and
    ``wneed``; drives ``abandon`` and ``load_error``.
    """
    core, cmd = st.core, st.core.cmd.payload
    cctx, cmode, wcount = st.cctx, st.cmode, st.wcount
    is_load, is_desc = st.is_load, st.is_desc
    cd = Array(st.desc)[cctx]
    mask_words = Signal(core.addr_bits + 1)
    m.d.comb += mask_words.eq(((cd.out_h << Array(st.lg)[cctx]) + MASK_WORD - 1) >> 4)
    is_setup_kind = (cmd.kind == CmdKind.ENABLE) | (cmd.kind == CmdKind.BIAS) | \
        (cmd.kind == CmdKind.MASK)
    setup_ok = (cmode == SETUP) & is_setup_kind & \
        ((cmd.kind != CmdKind.MASK) | (cmd.addr < mask_words)) & \
        ((cmd.kind != CmdKind.BIAS) | (cmd.addr < core.bias_pieces))
    wb = cd.wbank
    weight_ok = (cmode == WEIGHTS) & (cmd.kind == CmdKind.WEIGHT) & \
        (cmd.addr == Array(wcount)[wb])
    write = is_load & (setup_ok | weight_ok)
    m.d.comb += st.abandon.eq(st.loads_short & ((is_load & ~write) | is_desc))
    with m.If(st.abandon):
        m.d.sync += cmode.eq(Mux(is_desc, NONE, DROP))
    # a load no pass announced (never while abandoning, which needs SETUP or WEIGHTS): dropped
    with m.If(is_load & ~write & (cmode == NONE)):
        m.d.comb += st.load_error.eq(1)
    with m.If(is_load & setup_ok):
        cnt = Array(st.pre_cnt)[cctx]
        m.d.sync += cnt.eq(cnt + 1)
        with m.If(cnt + 1 == cd.nloads):
            m.d.sync += cmode.eq(Mux(cd.wload, WEIGHTS, NONE))
    with m.If(is_load & weight_ok):
        m.d.sync += Array(wcount)[wb].eq(Array(wcount)[wb] + 1)
        with m.If(Array(wcount)[wb] + 1 == st.wneed):
            m.d.sync += cmode.eq(NONE)
    for l, ln in enumerate(st.lanes):
        m.d.comb += [ln.ld_en.eq(write & cmd.en[l]), ln.ld_kind.eq(cmd.kind),
                     ln.ld_ctx.eq(cctx), ln.ld_bank.eq(wb), ln.ld_addr.eq(cmd.addr),
                     ln.ld_value.eq(cmd.value[l])]
