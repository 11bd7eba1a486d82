"""Compile one layer op into passes of a :class:`~ganforge.rtl.core.SparseCore`.

:func:`compile_op` maps one op of the golden API onto the core. It returns
the passes (descriptor, loads, input beats) and how to place each drained
output in the result. It also splits a layer that is larger than the lane
buffers: over output channels and samples (lane groups), over input channels
(reductions with ``drain = 0`` until the last chunk), and, for weight
gradients, over samples.

The ops and how they map:

============================ ============ ===========================================
op                           relation     lane computes
============================ ============ ===========================================
conv                         conv         y[n, co] from x[n], weights w[co]
conv_transpose               transposed   y[n, co] from x[n], weights w[:, co]
conv_input_grad (conv EP)    transposed   dx[n, c] from dy[n], weights w[:, c]
conv_transpose_input_grad    conv         dx[n, c] from dy[n], weights w[c]
conv_weight_grad             see below    dw = Σ_n dy[n, a] ⋆ x[n, b]
conv_transpose_weight_grad   see below    the same with x and dy swapped
============================ ============ ===========================================

A weight gradient ``dw[a, b] = Σ DY[n, a, oh, ow] · X[n, b, oh·s + kh − p]``
runs in one of two ways. Lanes over ``a``: the elements are ``X`` and the
operand is ``DY[n, a]`` (conv relation). Lanes over ``b``: the elements are
``DY`` and the operand is ``X[n, b]`` (transposed relation). The driver picks
whichever side has more channels. In both, the operand's non-zero bitmap is
the mask, so zeros on both sides are skipped.

``dense=True`` turns every kind of skipping off and streams every element,
zeros included. This is the baseline. The result is identical.
"""

from dataclasses import dataclass, field

import numpy as np

from ganforge.golden import conv as C
from ganforge.golden.fixed import ACTIVATIONS, as_int_array, output_stage
from ganforge.rtl.core import LoadKind
from ganforge.rtl.lane import MASK_WORD
from ganforge.rtl.descriptor import Op

__all__ = ["Pass", "Program", "compile_op", "OPS", "reference_result"]

OPS = ("conv", "conv_transpose", "conv_input_grad", "conv_transpose_input_grad",
       "conv_weight_grad", "conv_transpose_weight_grad")


@dataclass
class Pass:
    desc: dict
    loads: list
    beats: list
    #: per lane, where its drained outputs go: (index tuple into the result, shape) or None.
    places: list = None


@dataclass
class Program:
    op: str
    passes: list
    result_shape: tuple
    lanes: int
    meta: dict = field(default_factory=dict)

    def assemble(self, drained):
        """Build the result from the drained outputs.

        ``drained``: for each pass that drains, a list of beats, each a list of
        ``(value, mask)`` pairs, one per lane.
        """
        result = np.zeros(self.result_shape, dtype=np.int64)
        rmask = np.zeros(self.result_shape, dtype=bool)
        it = iter(drained)
        for p in self.passes:
            if not p.desc["drain"]:
                continue
            beats = next(it)
            vals = np.array([[v for v, _ in b] for b in beats], dtype=np.int64)   # [words, lanes]
            masks = np.array([[mk for _, mk in b] for b in beats], dtype=bool)
            for lane, place in enumerate(p.places):
                if place is None:
                    continue
                index, shape = place
                result[index] = vals[:, lane].reshape(shape)
                rmask[index] = masks[:, lane].reshape(shape)
        return result, rmask


def _elements(t2d_channels, dense):
    """Elements ``(ci, i, j, value)`` of a ``[C, H, W]`` map: non-zero only unless dense."""
    if dense:
        idx = np.argwhere(np.ones(t2d_channels.shape, dtype=bool))
    else:
        idx = np.argwhere(t2d_channels != 0)
    return [(int(c), int(i), int(j), int(t2d_channels[c, i, j])) for c, i, j in idx]


def _beats(slot_lists, lanes):
    """Zip per-slot element lists into beats; the last beat has ``end``."""
    n = max([len(s) for s in slot_lists] + [1])
    beats = []
    for b in range(n):
        slots = []
        for s in range(lanes):
            lst = slot_lists[s] if s < len(slot_lists) else []
            slots.append((1, *lst[b]) if b < len(lst) else (0, 0, 0, 0, 0))
        beats.append({"slots": slots, "end": int(b == n - 1)})
    return beats


def _load_beats(kind, per_lane, lanes):
    """Load beats writing ``per_lane[l]`` (a list of values) into lane ``l``, all lanes at once."""
    words = max([len(v) for v in per_lane.values()] + [0])
    beats = []
    for addr in range(words):
        en = [l in per_lane and addr < len(per_lane[l]) for l in range(lanes)]
        beats.append({"kind": kind, "addr": addr, "en": sum(1 << l for l, e in enumerate(en) if e),
                      "value": [int(per_lane[l][addr]) if en[l] else 0 for l in range(lanes)]})
    return beats


def _mask_words(bits):
    """Pack a flat bool array into MASK_WORD-bit words."""
    bits = np.asarray(bits, dtype=bool).reshape(-1)
    return [sum(int(b) << n for n, b in enumerate(bits[a:a + MASK_WORD]))
            for a in range(0, len(bits), MASK_WORD)]


def _lane_loads(lanes, enable, weights, masks=None, biases=None):
    """Every load beat of one pass: enables, weights/operands, masks, biases."""
    beats = _load_beats(LoadKind.ENABLE, {l: [int(e)] for l, e in enumerate(enable)}, lanes)
    beats += _load_beats(LoadKind.WEIGHT, weights, lanes)
    if masks:
        beats += _load_beats(LoadKind.MASK, {l: _mask_words(b) for l, b in masks.items()}, lanes)
    if biases:
        beats += _load_beats(LoadKind.BIAS, {l: [b] for l, b in biases.items()}, lanes)
    return beats


def _pow2_ceil(v):
    p = 1
    while p < v:
        p *= 2
    return p


def _desc(op, k, stride, padding, out_hw, cin, shift, activation, slope, dense, drain, slots,
          mask_out):
    return {"op": int(op), "kernel": k, "stride": stride, "padding": padding,
            "out_h": out_hw[0], "out_w": out_hw[1], "cin": cin, "shift": shift,
            "activation": ACTIVATIONS[activation], "slope": slope,
            "skip_zero": int(not dense), "skip_mask": int(not dense), "mask_out": int(mask_out),
            "drain": int(drain), "slots": slots}


def _fp_program(op, inp, wl, transposed, out_hw, stride, padding, *, lanes, weight_depth,
                out_depth, shift, activation, slope, bias, out_mask, dense):
    n_s, cin, h, w = inp.shape
    cout = wl.shape[0]
    k = wl.shape[2]
    if out_hw[0] * out_hw[1] > out_depth:
        raise ValueError(f"output map {out_hw} exceeds the lane accumulator ({out_depth} words)")
    group = min(lanes, _pow2_ceil(cout))
    slots = lanes // group
    chunk = max(1, min(cin, weight_depth // (k * k)))
    passes = []
    rel = Op.TCONV if transposed else Op.CONV
    # Weight-stationary: for one group of output channels, the lanes keep their weights
    # across the sample passes when one chunk of input channels holds them all.
    single_chunk = chunk >= cin
    for c0 in range(0, cout, group):
        for n0 in range(0, n_s, slots):
            assign = []                                   # lane -> (n, c) or None
            for l in range(lanes):
                n, c = n0 + l % slots, c0 + l // slots
                assign.append((n, c) if n < n_s and c < cout else None)
            first = n0 == 0
            for q0 in range(0, cin, chunk):
                q1 = min(cin, q0 + chunk)
                last = q1 == cin
                used = {l: a for l, a in enumerate(assign) if a is not None}
                weights = {} if single_chunk and not first else \
                    {l: wl[c, q0:q1].reshape(-1) for l, (n, c) in used.items()}
                masks = biases = None
                if q0 == 0 and (out_mask is not None or first):
                    masks = {l: np.ones(out_hw, bool) if out_mask is None else out_mask[n, c]
                             for l, (n, c) in used.items()}
                if q0 == 0 and first:
                    biases = {l: int(bias[c]) if bias is not None else 0 for l, (n, c) in used.items()}
                loads = _lane_loads(lanes, [a is not None for a in assign], weights, masks, biases)
                slot_lists = []
                for s in range(slots):
                    n = n0 + s
                    slot_lists.append(_elements(inp[n, q0:q1], dense) if n < n_s else [])
                d = _desc(rel, k, stride, padding, out_hw, q1 - q0, shift, activation, slope,
                          dense, last, (slots - 1).bit_length(), out_mask is not None)
                places = None
                if last:
                    places = [None if a is None else ((a[0], a[1]), out_hw) for a in assign]
                passes.append(Pass(d, loads, _beats(slot_lists, lanes), places))
    return passes


def _wg_program(X, DY, stride, padding, k, *, lanes, weight_depth, out_depth, shift,
                activation, slope, dense):
    """dw[a, b, kh, kw] = Σ DY[n, a, oh, ow] · X[n, b, oh·s + kh − p]  (result [A, B, K, K])."""
    n_s, cb, h, w = X.shape
    ca, ho, wo = DY.shape[1:]
    result_shape = (ca, cb, k, k)
    passes = []
    lanes_over_a = ca >= cb
    if lanes_over_a:                  # elements X (channels b), operand DY[n, a]: conv relation
        elems, opnd, rel, c_lane, c_el, op_hw = X, DY, Op.CONV_WG, ca, cb, (ho, wo)
    else:                             # elements DY (channels a), operand X[n, b]: transposed
        elems, opnd, rel, c_lane, c_el, op_hw = DY, X, Op.TCONV_WG, cb, ca, (h, w)
    if op_hw[0] * op_hw[1] > weight_depth:
        raise ValueError(f"operand map {op_hw} exceeds the lane operand memory ({weight_depth} words)")
    chunk = max(1, min(c_el, out_depth // (k * k)))
    for c0 in range(0, c_lane, lanes):
        lane_ch = [c0 + l if c0 + l < c_lane else None for l in range(lanes)]
        for q0 in range(0, c_el, chunk):
            q1 = min(c_el, q0 + chunk)
            for n in range(n_s):
                last = n == n_s - 1
                used = {l: c for l, c in enumerate(lane_ch) if c is not None}
                maps = {l: opnd[n, c].reshape(-1) for l, c in used.items()}
                loads = _lane_loads(lanes, [c is not None for c in lane_ch], maps,
                                    {l: mp != 0 for l, mp in maps.items()},
                                    {l: 0 for l in used} if n == 0 else None)
                d = _desc(rel, k, stride, padding, op_hw, q1 - q0, shift, activation, slope,
                          dense, last, 0, False)
                places = None
                if last:
                    places = []
                    for c in lane_ch:
                        if c is None:
                            places.append(None)
                        elif lanes_over_a:      # acc[(b - q0)·K² + kh·K + kw] = dw[c, b]
                            places.append(((c, slice(q0, q1)), (q1 - q0, k, k)))
                        else:                   # acc[(a - q0)·K² + kh·K + kw] = dw[a, c]
                            places.append(((slice(q0, q1), c), (q1 - q0, k, k)))
                passes.append(Pass(d, loads, _beats([_elements(elems[n, q0:q1], dense)], lanes),
                                   places))
    return passes, result_shape


def compile_op(op, tensors, *, lanes, weight_depth, out_depth, stride=1, padding=0,
               output_padding=0, kernel_size=None, input_hw=None, shift=0,
               activation="identity", slope_shift=2, bias=None, out_mask=None, dense=False):
    """A :class:`Program` computing ``op`` on ``tensors`` (a dict named as the golden API)."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    t = {name: as_int_array(v, name) for name, v in tensors.items()}
    if op in ("conv", "conv_transpose"):
        x, w = t["x"], t["w"]
        if op == "conv":
            wl, transposed = w, False
            out_hw = C.conv2d_out_hw(x.shape[2:], w.shape[2], stride, padding)
        else:
            wl, transposed = w.transpose(1, 0, 2, 3), True
            out_hw = C.conv_transpose2d_out_hw(x.shape[2:], w.shape[2], stride, padding, output_padding)
        inp = x
    elif op in ("conv_input_grad", "conv_transpose_input_grad"):
        dy, w = t["dy"], t["w"]
        inp = dy
        if op == "conv_input_grad":
            wl, transposed = w.transpose(1, 0, 2, 3), True
            out_hw = tuple(input_hw) if input_hw is not None else \
                C.conv_transpose2d_out_hw(dy.shape[2:], w.shape[2], stride, padding)
        else:
            wl, transposed = w, False
            out_hw = C.conv2d_out_hw(dy.shape[2:], w.shape[2], stride, padding)
    else:
        x, dy = t["x"], t["dy"]
        k = int(kernel_size)
        if op == "conv_weight_grad":
            passes, shape = _wg_program(x, dy, stride, padding, k, lanes=lanes, weight_depth=weight_depth,
                                        out_depth=out_depth, shift=shift, activation=activation,
                                        slope=slope_shift, dense=dense)
        else:   # dw[ci, co] = Σ x[n, ci] ⋆ dy[n, co]: the conv WG of (dy, x)
            passes, shape = _wg_program(dy, x, stride, padding, k, lanes=lanes, weight_depth=weight_depth,
                                        out_depth=out_depth, shift=shift, activation=activation,
                                        slope=slope_shift, dense=dense)
        return Program(op, passes, shape, lanes)
    if wl.shape[1] != inp.shape[1]:
        raise ValueError(f"{op}: the input has {inp.shape[1]} channels but the weights expect {wl.shape[1]}")
    passes = _fp_program(op, inp, np.ascontiguousarray(wl), transposed, out_hw, stride, padding,
                         lanes=lanes, weight_depth=weight_depth, out_depth=out_depth, shift=shift,
                         activation=activation, slope=slope_shift, bias=bias, out_mask=out_mask,
                         dense=dense)
    return Program(op, passes, (inp.shape[0], wl.shape[0], *out_hw), lanes)


def reference_result(op, tensors, *, stride=1, padding=0, output_padding=0, kernel_size=None,
                     input_hw=None, shift=0, activation="identity", slope_shift=2, bias=None,
                     out_mask=None, width=16):
    """What the core must return for ``op``: the golden op, then the output stage, then the mask."""
    t = {name: as_int_array(v, name) for name, v in tensors.items()}
    if op == "conv":
        acc = C.conv2d(t["x"], t["w"], stride, padding)
    elif op == "conv_transpose":
        acc = C.conv_transpose2d(t["x"], t["w"], stride, padding, output_padding)
    elif op == "conv_input_grad":
        acc = C.conv2d_input_grad(t["dy"], t["w"], stride, padding, input_hw)
    elif op == "conv_transpose_input_grad":
        acc = C.conv_transpose2d_input_grad(t["dy"], t["w"], stride, padding)
    elif op == "conv_weight_grad":
        acc = C.conv2d_weight_grad(t["x"], t["dy"], stride, padding, kernel_size)
    elif op == "conv_transpose_weight_grad":
        acc = C.conv_transpose2d_weight_grad(t["x"], t["dy"], stride, padding, kernel_size)
    else:
        raise ValueError(f"unknown op {op!r}")
    y, m = output_stage(acc, shift, width, activation, slope_shift, bias)
    if out_mask is not None:
        om = np.asarray(out_mask, dtype=bool)
        y, m = np.where(om, y, 0), m & om
    return y, m
