"""Refuse, before anything is simulated, an op the core would refuse.

The core checks every descriptor (:func:`~ganforge.rtl.core.descriptor.check_descriptor`)
and drops a pass it refuses, so a host that waits for that pass's outputs waits for
nothing. :func:`check_program` runs every compiled pass through the same rules, with the
core's parameters, and checks what the descriptor's fields and the load beats can hold;
a refusal is one ``ValueError`` naming the parameter and its limit.
"""

import numpy as np

from ganforge.rtl.core.descriptor import Error, Op, check_descriptor, descriptor_layout, map_words

__all__ = ["check_program", "core_limits"]

#: The core's parameters the rules read, with SparseCore's defaults.
_DEFAULTS = dict(lanes=16, data_width=16, acc_width=48, max_kernel=5, max_stride=2,
                 weight_depth=2048, out_depth=1024, coord_bits=8)


def core_limits(core):
    """The parameters of ``core`` (a :class:`~ganforge.rtl.core.SparseCore`, or its keyword
    arguments as a dict) that :func:`check_program` needs."""
    if isinstance(core, dict):
        return {k: core.get(k, v) for k, v in _DEFAULTS.items()}
    return dict(lanes=core.lanes, data_width=core.dw, acc_width=core.aw, max_kernel=core.kmax,
                max_stride=core.smax, weight_depth=core.weight_depth, out_depth=core.out_depth,
                coord_bits=core.cb)


def _refusal(code, d, lim):
    wg = d["op"] in (Op.CONV_WG, Op.TCONV_WG)
    words, taps = map_words(d["out_h"], d["out_w"]), d["cin"] * d["kernel"] ** 2
    return {
        Error.KERNEL: f"kernel {d['kernel']}: the core runs kernels of 1 to max_kernel = "
                      f"{lim['max_kernel']}",
        Error.STRIDE: f"stride {d['stride']}: the core runs strides 1 and 2, up to max_stride = "
                      f"{lim['max_stride']}",
        Error.PADDING: f"padding {d['padding']} must be below the kernel ({d['kernel']})",
        Error.SIZE: f"an empty pass (output {d['out_h']}x{d['out_w']}, input "
                    f"{d['in_h']}x{d['in_w']}, {d['cin']} channels)",
        Error.OUT_SIZE: f"a pass needs {max(words, taps) if wg else words} accumulator words, "
                        f"above out_depth = {lim['out_depth']}",
        Error.WEIGHT_SIZE: f"a pass needs {words if wg else taps} operand words, above "
                           f"weight_depth = {lim['weight_depth']}",
        Error.ACTIVATION: "activation code 3 names no activation",
        Error.SLOTS: f"{1 << d['slots']} samples in a pass, above the {lim['lanes']} lanes",
        Error.SHIFT: f"shift {d['shift']} must be below acc_width = {lim['acc_width']}",
    }[code]


def check_program(prog, core, *, bias=None):
    """Raise ``ValueError`` if the core (``core``: a SparseCore or its keyword arguments)
    would refuse a pass of ``prog`` (a :class:`~.program.Program`, or a list of its
    passes), or if a descriptor field, a load value or ``bias`` (per output channel, in
    accumulator units) does not fit the hardware. The message names the parameter."""
    lim = core_limits(core)
    if bias is not None:
        b = np.asarray(bias)
        lo, hi = -(1 << (lim["acc_width"] - 1)), (1 << (lim["acc_width"] - 1)) - 1
        if b.size and (int(b.min()) < lo or int(b.max()) > hi):
            raise ValueError(f"a bias of {int(b.min()) if int(b.min()) < lo else int(b.max())} "
                             f"does not fit the {lim['acc_width']}-bit accumulator (acc_width)")
    fields = descriptor_layout(lim["coord_bits"], lim["out_depth"]).members
    passes = getattr(prog, "passes", prog)
    for n, p in enumerate(passes):
        d = {k: int(v) for k, v in p.desc.items()}
        code = check_descriptor(d, **{k: lim[k] for k in ("lanes", "max_kernel", "max_stride",
                                                          "weight_depth", "out_depth",
                                                          "acc_width")})
        if code != Error.NONE:
            raise ValueError(f"pass {n}: {_refusal(code, d, lim)}")
        for name, shape in fields.items():
            if name in d and not 0 <= d[name] < 1 << shape.width:
                limit = " (coord_bits)" if shape.width == lim["coord_bits"] else ""
                raise ValueError(f"pass {n}: {name} = {d[name]} does not fit the descriptor's "
                                 f"{shape.width}-bit field{limit}")
