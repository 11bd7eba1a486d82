"""The pass builders: a layer's FP/EP or weight gradient as passes of the sparse core.

A layer larger than the lane buffers is split: over output channels and samples (lane
groups, samples side by side in slots when the channels are fewer than the lanes), over
input channels (reductions with ``drain = 0`` until the last chunk), and, for weight
gradients, over samples. Each pass loads its operands into the operand bank the previous
pass did not read, unless a bank already holds them (:class:`_Banks`), so the loads
overlap the previous pass's compute.

* :func:`fp_passes`: a (transposed) convolution of data with weights; FP and EP.
* :func:`wg_passes`: a weight gradient, with lanes over the side with more channels.
* :func:`balanced_channel_order`: the order in which output channels fill the lanes of a
  masked FP, so that the lanes of a pass have similar work.
* :func:`input_chunk`: the input channels one FP pass takes.
"""

import numpy as np

from ganforge.golden.fixed import ACTIVATIONS
from ganforge.rtl.core.descriptor import MASK_WORD, CmdKind, Op, map_words, pitch_log2

from .program import Pass

__all__ = ["fp_passes", "wg_passes", "balanced_channel_order", "input_chunk"]


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

    def __init__(self, reuse=True):
        self.held = [None, None]
        self.last = 1
        self.reuse = reuse

    def place(self, key):
        """``(bank, load)`` for operands named ``key`` (None: never reused; with ``reuse``
        off, nothing is)."""
        if self.reuse and key is not None and key in self.held:
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


def input_chunk(cin, k, weight_depth):
    """Input channels an FP pass takes: as many as the lane's operand bank holds."""
    return max(1, min(cin, weight_depth // (k * k)))


def fp_passes(inp, wl, transposed, out_hw, stride, padding, *, lanes, weight_depth,
              out_depth, shift, activation, slope, bias, out_mask, dense, balance=True,
              audit=False, pack_samples=True, reuse=True):
    """The passes of ``y[n, co] = Σ_ci inp[n, ci] ⋆ wl[co, ci]`` (``⋆``: a convolution,
    transposed when ``transposed``), ``y`` of ``out_hw``.

    ``inp``: ``[N, C_in, H, W]``; ``wl``: the lane weights ``[C_out, C_in, K, K]``.
    ``bias`` (per output channel), ``out_mask`` (``[N, C_out, *out_hw]`` bool) and the
    output stage (``shift``, ``activation``, ``slope``) as the core applies them;
    ``balance``, ``audit``, ``pack_samples`` and ``reuse`` as :func:`~.ops.compile_op`
    documents. A lane computes one
    output map; ``out_depth`` must hold it.
    """
    n_s, cin, h, w = inp.shape
    cout = wl.shape[0]
    k = wl.shape[2]
    if map_words(*out_hw) > out_depth:
        raise ValueError(f"output map {out_hw} exceeds the lane accumulator ({out_depth} words; "
                         f"a map takes out_h x 2**ceil(log2(out_w)) words)")
    group = min(lanes, _pow2_ceil(cout)) if pack_samples else lanes
    slots = lanes // group
    chunk = input_chunk(cin, k, weight_depth)
    passes = []
    banks = _Banks(reuse)
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


def wg_passes(X, DY, stride, padding, k, *, lanes, weight_depth, out_depth, shift,
              activation, slope, dense, reuse=True):
    """The passes of ``dw[a, b, kh, kw] = Σ DY[n, a, oh, ow] · X[n, b, oh·s + kh − p]``, and
    the result's shape ``[A, B, K, K]``.

    Lanes over ``a`` (when ``A ≥ B``): the elements are ``X`` and each lane's operand is
    ``DY[n, a]`` (conv relation). Lanes over ``b``: the elements are ``DY`` and the operand
    is ``X[n, b]`` (transposed relation). Unless ``dense``, the operand's non-zero bitmap
    is the lane's mask, so zeros on both sides are skipped. The operand map must fit the
    lane's operand memory and mask (``weight_depth``, ``out_depth``, pitched).
    """
    n_s, cb, h, w = X.shape
    ca, ho, wo = DY.shape[1:]
    result_shape = (ca, cb, k, k)
    passes = []
    banks = _Banks(reuse)
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
