"""The port integers of a core :class:`~.program.Program`, and the drained outputs back.

:func:`pack_program` turns a program into the words a core's ``cmd`` and
``x_in`` streams take (``amaranth.lib.data`` layouts of :mod:`ganforge.rtl.core`);
:func:`unpack_drained` turns the words of its ``o`` stream into what
:meth:`~.program.Program.assemble` takes. Any driver (cocotb, the Amaranth
simulator, a board) sends and receives these integers.
"""

from amaranth.lib import data

from ganforge.rtl.core import beat_layout
from ganforge.rtl.core.descriptor import CmdKind, Op, cmd_layout
from ganforge.rtl.core.output_stage import output_layout

from .bits import packer

__all__ = ["drain_words", "pack_program", "pass_beats", "hardware_loads", "unpack_drained"]


def drain_words(desc):
    """Output beats a pass drains (0 when it does not drain)."""
    if not desc["drain"]:
        return 0
    wg = desc["op"] in (Op.CONV_WG, Op.TCONV_WG)
    return desc["cin"] * desc["kernel"] ** 2 if wg else desc["out_h"] * desc["out_w"]


def _cmd_packer(core):
    return packer(cmd_layout(core.lanes, core.addr_bits, core.lw, core.cb, core.out_depth))


def _piece(value, k, width):
    """Bits ``k·width`` up of ``value`` (two's complement), as a signed ``width``-bit value."""
    u = (value >> (k * width)) & ((1 << width) - 1)
    return u - (1 << width) if u >> (width - 1) else u


def hardware_loads(core, desc, loads):
    """``(desc, loads)`` as ``core``'s command stream takes them: each ``BIAS`` load (one
    accumulator-wide value per lane) becomes ``core.bias_pieces`` beats of ``core.lw``
    bits, piece ``addr`` low first, and ``nloads`` counts them; a ``MASK`` word's bits are
    written as the signed value field holds them."""
    out, extra = [], 0
    for ld in loads:
        if ld["kind"] == CmdKind.MASK:          # mask bits, as the signed field holds them
            out.append(dict(ld, value=[_piece(int(v), 0, core.lw) for v in ld["value"]]))
            continue
        if ld["kind"] != CmdKind.BIAS:
            out.append(ld)
            continue
        out += [dict(ld, addr=k, value=[_piece(int(v), k, core.lw) for v in ld["value"]])
                for k in range(core.bias_pieces)]
        extra += core.bias_pieces - 1
    return dict(desc, nloads=desc["nloads"] + extra), out


def pass_beats(core, p):
    """The command beats of pass ``p`` for ``core``: its DESC, then its loads."""
    pack_cmd = _cmd_packer(core)
    desc, loads = hardware_loads(core, p.desc, p.loads)
    return [pack_cmd({"kind": int(CmdKind.DESC), "desc": desc})] + [pack_cmd(ld) for ld in loads]


def pack_program(core, prog):
    """The port integers of ``prog`` for ``core`` (a :class:`SparseCore`): ``(cmd, x, drains)``.

    ``cmd`` is the command stream (each pass's DESC, then its loads), ``x`` the element
    beats of every pass in order, ``drains`` the output beats of each pass (0 if none).
    """
    pack_beat = packer(beat_layout(core.lanes, core.dw, core.cb))
    cmd, x, drains = [], [], []
    for p in prog.passes:
        cmd += pass_beats(core, p)
        x += [pack_beat({"slot": [{"valid": v, "ci": c, "i": i, "j": j, "value": val}
                                  for v, c, i, j, val in b["slots"]], "end": b["end"]})
              for b in p.beats]
        drains.append(drain_words(p.desc))
    return cmd, x, drains


def unpack_drained(core, words, drains):
    """The drained beats of each pass that drains (``drains``: words per pass) from raw
    output words, as :meth:`Program.assemble` takes them."""
    ol = data.ArrayLayout(output_layout(core.dw), core.lanes)
    words = iter(words)
    drained = []
    for n in drains:
        if n:
            beats = []
            for _ in range(n):
                view = ol.from_bits(next(words))
                beats.append([(int(view[l].value), int(view[l].mask)) for l in range(core.lanes)])
            drained.append(beats)
    return drained
