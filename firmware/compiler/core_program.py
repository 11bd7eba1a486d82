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
from ganforge.golden import work as C_work
from ganforge.golden.fixed import ACTIVATIONS, as_int_array, output_stage
from ganforge.rtl.core.descriptor import MASK_WORD, CmdKind, Op, map_words, pitch_log2

__all__ = ["Pass", "Program", "compile_op", "balanced_channel_order", "audit_counts", "OPS", "reference_result", "work_counts",
           "compile_eors", "eors_prediction", "pipeline_tile"]

OPS = ("conv", "conv_transpose", "conv_input_grad", "conv_transpose_input_grad",
       "conv_weight_grad", "conv_transpose_weight_grad")


@dataclass
class Pass:
    desc: dict
    #: setup beats (ENABLE, BIAS, MASK), then operand words (WEIGHT): the loads after the DESC.
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
    """Elements ``(ci, i, j, value)`` of a ``[C, H, W]`` map, channel by channel in raster
    order (operand words arrive in that order too): non-zero only unless dense."""
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
        beats.append({"kind": int(kind), "addr": addr, "en": sum(1 << l for l, e in enumerate(en) if e),
                      "value": [int(per_lane[l][addr]) if en[l] else 0 for l in range(lanes)]})
    return beats


def _pitched(maps_hw):
    """A ``[H, W]`` map laid out pitched (rows ``2**lg`` words apart, zeros between), flat."""
    h, w = maps_hw.shape
    out = np.zeros((h, 1 << pitch_log2(w)), dtype=maps_hw.dtype)
    out[:, :w] = maps_hw
    return out.reshape(-1)


def _mask_words(bits_hw):
    """Pack a ``[H, W]`` bool map, pitched, into MASK_WORD-bit words."""
    bits = _pitched(np.asarray(bits_hw, dtype=bool))
    return [sum(int(b) << n for n, b in enumerate(bits[a:a + MASK_WORD]))
            for a in range(0, len(bits), MASK_WORD)]


def _pow2_ceil(v):
    p = 1
    while p < v:
        p *= 2
    return p


class _Banks:
    """Which operands each of the core's two operand banks holds: a pass whose operands are
    already in a bank reuses it; otherwise they load into the bank the previous pass did not
    read, so the loads overlap the previous pass's compute."""

    def __init__(self):
        self.held = [None, None]
        self.last = 1

    def place(self, key):
        """``(bank, load)`` for operands named ``key`` (None: never reused)."""
        if key is not None and key in self.held:
            bank, load = self.held.index(key), False
        else:
            bank, load = 1 - self.last, True
            self.held[bank] = key
        self.last = bank
        return bank, load


def _pass(lanes, desc, enable, *, weights, bank, load, masks=None, biases=None, beats, places=None):
    """One pass: its descriptor (with wbank, wload and nloads filled in) and load beats.

    Setup beats come first: ENABLE when a lane sits out, BIAS when a lane has one,
    MASK words when given; then the operand words when ``load``.
    """
    setup = []
    if not all(enable):
        setup.append({"kind": int(CmdKind.ENABLE), "addr": 0, "en": (1 << lanes) - 1,
                      "value": [int(e) for e in enable]})
    if biases and any(biases.values()):
        setup += _load_beats(CmdKind.BIAS, {l: [b] for l, b in biases.items()}, lanes)
    if masks:
        setup += _load_beats(CmdKind.MASK, {l: _mask_words(b) for l, b in masks.items()}, lanes)
    loads = setup + (_load_beats(CmdKind.WEIGHT, weights, lanes) if load else [])
    desc = dict(desc, wbank=bank, wload=int(load), nloads=len(setup))
    return Pass(desc, loads, beats, places)


def _desc(op, k, stride, padding, out_hw, in_hw, cin, shift, activation, slope, dense, drain,
          slots, mask_out, skip_mask):
    return {"op": int(op), "kernel": k, "stride": stride, "padding": padding,
            "out_h": out_hw[0], "out_w": out_hw[1], "in_h": in_hw[0], "in_w": in_hw[1],
            "cin": cin, "shift": shift, "activation": ACTIVATIONS[activation], "slope": slope,
            "skip_zero": int(not dense), "skip_mask": int(skip_mask and not dense),
            "mask_out": int(mask_out), "drain": int(drain), "slots": slots}


def balanced_channel_order(out_mask, cout):
    """The order in which output channels fill the lanes of a masked FP.

    A pass ends when its slowest lane does, and a lane's work is the taps of
    the outputs its mask keeps. With ``out_mask`` (``[n, cout, H, W]`` bool),
    channels are sorted by the outputs they keep over all ``n`` samples, most
    first (stable), so each pass groups channels of similar work: for groups
    of a fixed size, this order minimises the sum over passes of the heaviest
    channel's kept outputs. One order serves every sample, so a channel group
    keeps its weights across the sample passes. Without a mask every channel
    has the same work and the order is the natural one.
    """
    if out_mask is None:
        return np.arange(cout)
    kept = np.asarray(out_mask, dtype=bool).sum(axis=(0, 2, 3))
    return np.argsort(-kept, kind="stable")


def _input_chunk(cin, k, weight_depth):
    """Input channels an FP pass takes: as many as the lane's operand bank holds."""
    return max(1, min(cin, weight_depth // (k * k)))


def _fp_program(op, inp, wl, transposed, out_hw, stride, padding, *, lanes, weight_depth,
                out_depth, shift, activation, slope, bias, out_mask, dense, balance=True,
                audit=False):
    n_s, cin, h, w = inp.shape
    cout = wl.shape[0]
    k = wl.shape[2]
    if map_words(*out_hw) > out_depth:
        raise ValueError(f"output map {out_hw} exceeds the lane accumulator ({out_depth} words; "
                         f"a map takes out_h x 2**ceil(log2(out_w)) words)")
    group = min(lanes, _pow2_ceil(cout))
    slots = lanes // group
    chunk = _input_chunk(cin, k, weight_depth)
    passes = []
    banks = _Banks()
    rel = Op.TCONV if transposed else Op.CONV
    # One order for every sample, so a channel group keeps its weights across the sample
    # passes (per-sample orders would reload them every pass: G1 turns load-bound).
    order = balanced_channel_order(out_mask if balance else None, cout)
    for c0 in range(0, cout, group):
        chans = order[c0:c0 + group]
        for n0 in range(0, n_s, slots):
            assign = []                                   # lane -> (n, c) or None
            for l in range(lanes):
                n, g = n0 + l % slots, l // slots
                assign.append((n, int(chans[g])) if n < n_s and g < len(chans) else None)
            used = {l: a for l, a in enumerate(assign) if a is not None}
            for q0 in range(0, cin, chunk):
                q1 = min(cin, q0 + chunk)
                last = q1 == cin
                # Lanes of one output channel group keep their weights across sample passes.
                bank, load = banks.place(("w", c0, q0))
                weights = {l: wl[c, q0:q1].reshape(-1) for l, (n, c) in used.items()}
                masks = None
                if out_mask is not None:
                    masks = {l: out_mask[n, c] for l, (n, c) in used.items()}
                biases = None
                if last and bias is not None:
                    biases = {l: int(bias[c]) for l, (n, c) in used.items()}
                slot_lists = [_elements(inp[n0 + s, q0:q1], dense) if n0 + s < n_s else []
                              for s in range(slots)]
                d = _desc(rel, k, stride, padding, out_hw, (h, w), q1 - q0, shift, activation,
                          slope, dense, last, (slots - 1).bit_length(), out_mask is not None,
                          out_mask is not None and not audit)
                places = [None if a is None else ((a[0], a[1]), out_hw) for a in assign] if last else None
                passes.append(_pass(lanes, d, [a is not None for a in assign], weights=weights,
                                    bank=bank, load=load, masks=masks, biases=biases,
                                    beats=_beats(slot_lists, lanes), places=places))
    return passes


def _wg_program(X, DY, stride, padding, k, *, lanes, weight_depth, out_depth, shift,
                activation, slope, dense):
    """dw[a, b, kh, kw] = Σ DY[n, a, oh, ow] · X[n, b, oh·s + kh − p]  (result [A, B, K, K])."""
    n_s, cb, h, w = X.shape
    ca, ho, wo = DY.shape[1:]
    result_shape = (ca, cb, k, k)
    passes = []
    banks = _Banks()
    lanes_over_a = ca >= cb
    if lanes_over_a:                  # elements X (channels b), operand DY[n, a]: conv relation
        elems, opnd, rel, c_lane, c_el, op_hw, el_hw = X, DY, Op.CONV_WG, ca, cb, (ho, wo), (h, w)
    else:                             # elements DY (channels a), operand X[n, b]: transposed
        elems, opnd, rel, c_lane, c_el, op_hw, el_hw = DY, X, Op.TCONV_WG, cb, ca, (h, w), (ho, wo)
    if map_words(*op_hw) > min(weight_depth, out_depth):
        raise ValueError(f"operand map {op_hw} exceeds the lane operand memory or mask "
                         f"({min(weight_depth, out_depth)} words, pitched)")
    chunk = max(1, min(c_el, out_depth // (k * k)))
    for c0 in range(0, c_lane, lanes):
        lane_ch = [c0 + l if c0 + l < c_lane else None for l in range(lanes)]
        used = {l: c for l, c in enumerate(lane_ch) if c is not None}
        for q0 in range(0, c_el, chunk):
            q1 = min(c_el, q0 + chunk)
            for n in range(n_s):
                last = n == n_s - 1
                bank, load = banks.place(("op", c0, n))
                maps = {l: _pitched(opnd[n, c]) for l, c in used.items()}
                masks = None if dense else {l: opnd[n, c] != 0 for l, c in used.items()}
                d = _desc(rel, k, stride, padding, op_hw, el_hw, q1 - q0, shift, activation, slope,
                          dense, last, 0, False, True)
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
                passes.append(_pass(lanes, d, [c is not None for c in lane_ch], weights=maps,
                                    bank=bank, load=load, masks=masks,
                                    beats=_beats([_elements(elems[n, q0:q1], dense)], lanes),
                                    places=places))
    return passes, result_shape


def compile_op(op, tensors, *, lanes, weight_depth, out_depth, stride=1, padding=0,
               output_padding=0, kernel_size=None, input_hw=None, shift=0,
               activation="identity", slope_shift=2, bias=None, out_mask=None, dense=False,
               balance=True, audit=False):
    """A :class:`Program` computing ``op`` on ``tensors`` (a dict named as the golden API).

    ``balance`` (FP and EP with ``out_mask``): fill the lanes in
    :func:`balanced_channel_order`, so that lanes of one pass have similar work;
    ``False`` keeps the natural channel order (the baseline of the balancing).

    ``audit`` (FP and EP with ``out_mask``): compute every tap and apply the
    mask at the drain (``skip_mask = 0``, ``mask_out = 1``). The result is the
    same; the core's ``false_zero`` and ``missed_zero`` counters then count the
    outputs the mask removed although they were positive, and those it kept
    although they were not (EORS's mispredictions, in hardware).
    """
    if audit and out_mask is None:
        raise ValueError("audit=True needs an out_mask to audit")
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
                         dense=dense, balance=balance, audit=audit)
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


def audit_counts(op, tensors, *, out_mask, **params):
    """What the core's ``false_zero`` and ``missed_zero`` count in an audited run of ``op``
    (FP or EP) with ``out_mask``: outputs the mask removes whose ReLU mask bit is 1, and
    outputs it keeps whose bit is 0 (the bit of the output stage without the mask)."""
    if op not in OPS[:4]:
        raise ValueError(f"{op}: only FP and EP ops take an output mask")
    _, relu = reference_result(op, tensors, **params)
    om = np.asarray(out_mask, dtype=bool)
    return {"false_zero": int(np.count_nonzero(~om & relu)),
            "missed_zero": int(np.count_nonzero(om & ~relu))}


def work_counts(op, tensors, *, stride=1, padding=0, output_padding=0, kernel_size=None,
                input_hw=None, out_mask=None, **_):
    """The golden work counts of ``op``, named as the core's counters.

    ``dense_macs``, ``output_mask_skipped``, ``input_zero_skipped``,
    ``zero_insertion_skipped`` (transposed FP/EP ops; 0 otherwise) and
    ``effective_macs``: what a perfect dual-sparsity machine issues. Weight
    gradients attribute every skipped MAC to input zeros (both operands are data).
    """
    t = {name: as_int_array(v, name) for name, v in tensors.items()}
    s, p = stride, padding
    if op == "conv":
        wk = C_work.conv2d_work(t["x"], t["w"].shape, s, p, out_mask)
    elif op == "conv_transpose":
        wk = C_work.conv_transpose2d_work(t["x"], t["w"].shape, s, p, output_padding, out_mask)
    elif op == "conv_input_grad":
        w = t["w"]
        natural = C.conv_transpose2d_out_hw(t["dy"].shape[2:], w.shape[2], s, p)
        hw = tuple(input_hw) if input_hw is not None else natural
        op_pad = tuple(a - b for a, b in zip(hw, natural))
        wk = C_work.conv_transpose2d_work(t["dy"], w.shape, s, p, op_pad, out_mask)
    elif op == "conv_transpose_input_grad":
        wk = C_work.conv2d_work(t["dy"], t["w"].shape, s, p, out_mask)
    elif op in ("conv_weight_grad", "conv_transpose_weight_grad"):
        wk = C_work.weight_grad_work(t["x"], t["dy"], s, p, kernel_size,
                                     transposed=(op == "conv_transpose_weight_grad"))
    else:
        raise ValueError(f"unknown op {op!r}")
    return {"dense_macs": wk["dense"], "output_mask_skipped": wk["output_mask_skipped"],
            "input_zero_skipped": wk["input_zero_skipped"],
            "zero_insertion_skipped": wk.get("zero_insertion_skipped", 0),
            "effective_macs": wk["effective"]}


def compile_eors(op, tensors, *, lanes, weight_depth, out_depth, mantissa_bits, margin,
                 acc_width, data_width=16, stride=1, padding=0, output_padding=0, bias=None,
                 **_):
    """The speculation passes of a ReLU layer's FP on an :class:`~ganforge.rtl.eors.EorsUnit`.

    ``op`` is ``conv`` or ``conv_transpose``. The passes are the core's own
    (:func:`compile_op`'s FP pass builder, sparse) with the weights replaced by
    EORS weight words and each lane's bias by ``bias + margin``; the output
    stage runs at shift 0 with ReLU, so a drained mask bit is 0 exactly where
    :func:`~ganforge.golden.eors.eors_predict` predicts zero. Read the
    prediction with :func:`eors_prediction`. ``margin`` is in accumulator units,
    ``0 ≤ margin < 2**(acc_width − 1)``; ``acc_width`` is the unit's (the
    configuration's ``eors_acc_width``).
    """
    from ganforge.golden.fixed import int_range
    from ganforge.rtl.eors import eors_weight_word
    if op not in ("conv", "conv_transpose"):
        raise ValueError(f"EORS speculates FP convolutions (conv, conv_transpose), not {op!r}")
    margin = int(margin)
    if not 0 <= margin < 1 << (int(acc_width) - 1):
        raise ValueError(f"margin must be in 0..2**(acc_width-1)-1 = {(1 << (acc_width - 1)) - 1}, "
                         f"got {margin}")
    x, w = as_int_array(tensors["x"], "x"), as_int_array(tensors["w"], "w")
    word = np.vectorize(lambda v: eors_weight_word(v, mantissa_bits, data_width), otypes=[np.int64])
    w_words = word(w) if w.size else w
    cout = w.shape[0] if op == "conv" else w.shape[1]
    b = np.zeros(cout, dtype=np.int64) if bias is None else as_int_array(bias, "bias")
    lo, hi = int_range(int(acc_width))
    if b.size and (b.min() < lo or b.max() > hi):
        raise ValueError(f"bias does not fit acc_width={acc_width}")
    # ``bias + margin`` is never 0 where a lane has a bias: the pass builder omits the BIAS
    # beat only when every lane's value is 0, which is then the right value.
    return compile_op(op, {"x": x, "w": w_words}, lanes=lanes, weight_depth=weight_depth,
                      out_depth=out_depth, stride=stride, padding=padding,
                      output_padding=output_padding, shift=0, activation="relu",
                      bias=b + margin)


def pipeline_tile(op, tensors, *, weight_depth, stride=1, padding=0, output_padding=0, **_):
    """Samples per tile when EORS runs overlapped with the core (``EorsPipeline``).

    The core's program for a tile loads each channel group's weights (one beat per word,
    every lane at once) and then runs the tile's samples with them. A tile of one sample
    overlaps best, but when a sample's MACs per channel are few (a 1×1 input: G1) the
    loads, not the MACs, set the pace. The tile is the smallest number of samples whose
    MACs per channel and input chunk, counted without EORS (input zeros skipped), are at
    least twice the weight words of the chunk: EORS may skip up to half of them and the
    loads must still hide behind the rest (they go to the other operand bank while the
    previous pass computes). Capped at the batch.
    """
    x, w = as_int_array(tensors["x"], "x"), as_int_array(tensors["w"], "w")
    n, cin, k = x.shape[0], x.shape[1], w.shape[2]
    cout = w.shape[0] if op == "conv" else w.shape[1]
    chunk = _input_chunk(cin, k, weight_depth)
    macs = work_counts(op, {"x": x, "w": w}, stride=stride, padding=padding,
                       output_padding=output_padding)["effective_macs"]
    per_sample = macs / (n * cout * -(-cin // chunk))
    tile = int(np.ceil(2 * chunk * k * k / per_sample)) if per_sample else n
    return max(1, min(n, tile))


def eors_prediction(prog, drained):
    """The predicted-zero map (bool, NCHW) of an :func:`compile_eors` program's drained beats."""
    _, mask = prog.assemble(drained)
    return ~mask
