"""Retraining a pretrained network on a user's own data with some layers frozen: the
mechanism of selective layer retraining (SELRET), in the device arithmetic.

The job (Kim et al., JSSC 2021): a network trained elsewhere meets a user's data that
differs from its training data, and the device retrains it on that data. Here:

* :func:`user_style` is the user's data: the digits written in a different hand, with
  thicker strokes and a slant (a documented transform of the real digits).
* :func:`user_pairs` makes the user's fixed training pairs for the image-to-image
  generator: each digit with erased squares (the input) and the clean digit (the target).
  They are fixed, as a user's data set is: retraining goes over them in epochs.
* :func:`retrain` retrains a device-mode network (:func:`~.nn.to_device`) on those pairs.
  Only the ``trainable`` layers are updated; the others are frozen, and frozen means
  computed less, not masked after the work:

  - a frozen layer runs no WG (``Sequential.backward(trainable=...)``);
  - nothing runs below the lowest trainable layer in the backward pass: no EP;
  - the layers below the lowest trainable one (the *prefix*) keep their weights and
    their scaling, so their output is a fixed function of the input: it is computed
    once per user sample and stored, and the steps start from the stored activations.
    (The prefix of the full retraining is empty.)

* :class:`WorkCounter` counts the MACs the retraining does, per layer and phase, with
  the golden work counters (:func:`~.ops.work_counts`: the effective MACs a
  dual-sparsity core issues). Instance norms run in the ROLIN units on the memory path,
  not on the lanes; they have no MACs.
"""

import numpy as np

from . import device_math as DM
from .fixed import quantize
from .nn import QT, Arith, Sequential
from .ops import work_counts

__all__ = ["user_style", "user_pairs", "WorkCounter", "probe", "retrain", "held_out_l1", "lowest_trainable",
           "PHASES"]

#: The phases a retraining counts: FP of the stored prefix (once per sample), and FP, EP,
#: WG of the steps.
PHASES = ("prefix", "FP", "EP", "WG")


def user_style(images, thickness=1, slant=0.3):
    """The user's hand: ``images`` ``[N, 1, H, W]`` in [-1, 1] with strokes thickened by a
    grey dilation over ``(1 + 2·thickness)``² pixels, then slanted like italic writing by
    a horizontal shear of ``slant`` pixels per row about the centre row (the top leans
    right, bilinear). Returns the same shape, clipped to [-1, 1]."""
    from scipy.ndimage import affine_transform, grey_dilation
    if thickness < 0:
        raise ValueError(f"thickness must be >= 0, got {thickness!r}")
    x = (np.asarray(images, dtype=np.float64) + 1.0) / 2.0
    out = np.empty_like(x)
    n, c, h, w = x.shape
    size = 1 + 2 * int(thickness)
    centre = (h - 1) / 2.0
    # output (r, q) reads input (r, q + slant·(r − centre)): rows above the centre move right
    matrix = np.array([[1.0, 0.0], [float(slant), 1.0]])
    offset = np.array([0.0, -float(slant) * centre])
    for i in range(n):
        for j in range(c):
            im = grey_dilation(x[i, j], size=(size, size)) if size > 1 else x[i, j]
            out[i, j] = affine_transform(im, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0) * 2.0 - 1.0


def user_pairs(images, seed, copies=1, block=6):
    """Fixed training pairs ``(src, clean)``: each image ``copies`` times, each copy with its
    own erased ``block``×``block`` square (:func:`~.data.corrupt`, seeded by ``seed``)."""
    from .data import corrupt
    clean = np.concatenate([images] * int(copies)) if copies > 1 else np.asarray(images)
    return corrupt(clean, np.random.default_rng(seed), block=block), clean


class WorkCounter:
    """A :class:`~.nn.ConvLayer` ``device`` that runs nothing: it returns the golden
    result and counts the op's MACs (:func:`~.ops.work_counts`) under the current
    ``phase`` (``"prefix"`` while the stored prefix is computed, else the op's own).

    ``macs[(layer, phase)]``: effective MACs; ``dense[(layer, phase)]``: dense MACs.
    """

    def __init__(self):
        self.macs, self.dense = {}, {}
        self.prefix = False

    def attach(self, net):
        """Count every convolution layer of ``net``; returns ``self``."""
        for layer in net.layers:
            if hasattr(layer, "device"):
                layer.device = self
        return self

    def run(self, layer, phase, op, tensors, params, expect):
        wk = work_counts(op, tensors, **params)
        key = (layer.name, "prefix" if self.prefix else phase)
        self.macs[key] = self.macs.get(key, 0) + wk["effective_macs"]
        self.dense[key] = self.dense.get(key, 0) + wk["dense_macs"]
        return expect

    def total(self, phases=PHASES):
        """Effective MACs summed over the layers, of the given phases."""
        return sum(v for (_, ph), v in self.macs.items() if ph in phases)

    def by_phase(self):
        return {ph: sum(v for (_, p), v in self.macs.items() if p == ph) for ph in PHASES}


def lowest_trainable(net, trainable):
    """Index of the lowest layer of ``net`` named in ``trainable`` that has parameters;
    ``ValueError`` naming an unknown layer, or when none has parameters."""
    names = [layer.name for layer in net.layers]
    unknown = sorted(set(trainable) - set(names))
    if unknown:
        raise ValueError(f"trainable: no layer named {', '.join(unknown)} (layers: {', '.join(names)})")
    idx = [i for i, n in enumerate(names) if n in trainable and net.layers[i].params]
    if not idx:
        raise ValueError("trainable: name at least one layer with parameters")
    return min(idx)


def _forward_frozen(layers, xq, frac, ar, chunk=64):
    """FP of ``layers`` (a frozen prefix) on every sample, their scaling frozen; one QT."""
    if not layers:
        return QT(xq, frac)
    seq, sc = Sequential(layers), layers[0].scaler
    old, sc.frozen = sc.frozen, True
    try:
        outs = [seq.forward(QT(xq[i:i + chunk], frac), ar) for i in range(0, len(xq), chunk)]
    finally:
        sc.frozen = old
    fracs = {o.frac for o in outs}
    if len(fracs) != 1:                     # a frozen scaling gives one format
        raise AssertionError(f"frozen prefix produced formats {sorted(fracs)}")
    return QT(np.concatenate([o.q for o in outs]), outs[0].frac)


def retrain(net, pairs, trainable, steps, batch=32, lr=1e-3, seed=0, ar=None, counter=None,
            progress=None):
    """Retrain the device-mode image-to-image network ``net`` in place on ``pairs``.

    ``trainable``: names of the layers to update (the others are frozen, see the module
    docstring). ``steps`` steps of ``batch`` pairs drawn with ``seed``; the fixed-point
    Adam (:class:`~.device_optim.FixedAdam`, β1 0.9, fresh moments) at ``lr``.
    ``counter``: a :class:`WorkCounter` attached to ``net``, or None.
    ``progress(i, steps, info)`` after each step. Returns the training L1 per step.
    """
    from .device_optim import FixedAdam
    if getattr(net, "scaler", None) is None:
        raise ValueError("retrain: put the network in device mode first (nn.to_device)")
    ar = ar or Arith()
    lowest = lowest_trainable(net, trainable)
    src, clean = pairs
    f, w = DM.TANH_FRAC, ar.width
    sq, cq = quantize(src, f, w), quantize(clean, f, w)
    if counter is not None:
        counter.prefix = True
    try:
        feats = _forward_frozen(net.layers[:lowest], sq, f, ar)
    finally:
        if counter is not None:
            counter.prefix = False
    suffix = Sequential(net.layers[lowest:])
    opt = FixedAdam(net, lr, beta1=0.9, layers=set(trainable))
    rng = np.random.default_rng(seed)
    losses = []
    for it in range(int(steps)):
        sel = rng.integers(0, len(sq), size=batch)
        pre = suffix.forward(QT(feats.q[sel], feats.frac), ar)
        out = DM.tanh_fixed(pre.q, pre.frac)
        dl, fdl = DM.l1_loss_grad(out, cq[sel], width=w)
        suffix.backward(QT(dl, fdl), ar, trainable=set(trainable))
        opt.step()
        losses.append(float(np.mean(np.abs(out - cq[sel]))) / 2.0 ** f)
        if progress is not None:
            progress(it, steps, {"l1": losses[-1]})
    return np.array(losses)


def probe(net, pairs, batch=64, seed=0, ar=None):
    """One probe step of the whole device-mode network on ``batch`` pairs drawn with
    ``seed``: FP, the loss gradient, EP and every WG, no update. The gradients are left
    in each layer's ``grads`` (what the device wrote); the scaling monitors of ``net``
    are updated as in any step, so probe a copy. Returns the batch's L1."""
    ar = ar or Arith()
    src, clean = pairs
    sel = np.random.default_rng(seed).integers(0, len(src), size=batch)
    f, w = DM.TANH_FRAC, ar.width
    pre = net.forward(QT(quantize(src[sel], f, w), f), ar)
    out = DM.tanh_fixed(pre.q, pre.frac)
    cq = quantize(clean[sel], f, w)
    dl, fdl = DM.l1_loss_grad(out, cq, width=w)
    net.backward(QT(dl, fdl), ar)
    return float(np.mean(np.abs(out - cq))) / 2.0 ** f


def held_out_l1(net, pairs, ar=None, chunk=64):
    """Mean |restored − clean| of a device-mode network on fixed pairs (scaling frozen;
    a :class:`WorkCounter` attached to ``net`` does not count this read-out)."""
    from .train import i2i_forward
    ar = ar or Arith()
    src, clean = pairs
    devices = [getattr(layer, "device", None) for layer in net.layers]
    for layer in net.layers:
        if hasattr(layer, "device"):
            layer.device = None
    total = 0.0
    try:
        for i in range(0, len(src), chunk):
            out, _ = i2i_forward(net, src[i:i + chunk], ar, mode="device")
            total += float(np.abs(out - clean[i:i + chunk]).sum())
    finally:
        for layer, dev in zip(net.layers, devices):
            if hasattr(layer, "device"):
                layer.device = dev
    return total / clean.size
