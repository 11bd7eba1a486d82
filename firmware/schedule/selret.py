"""SELRET: which layers to retrain on the user's data, from one probe step on the device.

Selective layer retraining (Kim et al., JSSC 2021) retrains only the layers whose
retraining improves quality and freezes the rest. Freezing saves work three ways
(:mod:`ganforge.golden.retrain` does each): a frozen layer runs no WG; nothing runs below
the lowest trainable layer in the backward pass; and the frozen layers below it (the
prefix) run their FP once per user sample instead of once per step.

**The rule**, from one probe step (the whole network's FP, EP and WG on one batch of the
user's data; about 0.3 % of a full retraining's work):

1. *What a layer can give*: the first-order loss drop of one Adam step on layer ``l`` is
   ``lr · Σ|g_l|`` (Adam moves every parameter by about ``lr`` against its gradient's
   sign), so ``drop_l = Σ|g_l|`` over the probe's gradient, read from the WG results.
2. *What it costs*: the MACs a step adds when ``l`` joins the trainable set: its WG, and
   when it lowers the lowest trainable layer, the FP and EP it brings into every step.
   The cost of a set is :meth:`Costs.step` from the probe's work counters (per layer and
   phase; instance norms have no MACs: they run in the ROLIN units).
3. *Worth it*: a layer whose drop is under ``floor`` (default 1 %) of the network's total
   is left frozen: its update costs the update unit's traffic and its step moves the
   loss by nothing. (Measured on the translator: its instance norms carry 0.2 % to 0.7 %
   of the drop each, and retraining them beside the convolutions ends with a worse L1
   than without them, at the same compute.)
4. *Order*: greedily, the layer with the largest drop per added MAC joins next (a layer
   that adds no MAC, above the lowest trainable layer, joins at once). This orders the
   layers from the cheapest gain to the dearest.
5. *Stop* when the set carries ``coverage`` (default 90 %) of the network's total
   first-order drop. Too few layers saturate: the loss stops falling however many steps
   they get, so the budget is better spent on fewer steps of more layers; layers beyond
   the coverage bring the lowest layers' FP and EP into every step for a few per cent of
   the gradient.
6. The budget then buys steps: ``steps = (budget − probe − prefix) / step``.

Everything here is a little arithmetic over the device's own numbers (its work counters
and the gradients it wrote), cheap enough for the firmware.

The baselines of the study (:func:`baseline_sets`) take as many parameterised layers as
SELRET took: the last ones, the first ones, or a random draw. Kim et al.'s published rule
(their patent application: retrain the whole network briefly on part of the user's data,
keep the layers whose weights changed most relative to their size) is
:func:`relative_change` and :func:`top_changed`.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Costs", "Selection", "first_order_drop", "select", "baseline_sets", "COVERAGE", "FLOOR",
           "relative_change", "top_changed"]

#: Share of the probe's first-order drop the selected layers must carry.
COVERAGE = 0.9
#: A layer carrying less than this share of the drop is not worth its update.
FLOOR = 0.01


@dataclass
class Costs:
    """MACs per sample of each layer's FP, EP and WG, in network order.

    ``names``: every layer; ``params``: the names of the layers with parameters;
    ``fp``, ``ep``, ``wg``: ``{name: MACs per sample}`` (0 for an instance norm).
    """
    names: list
    params: list
    fp: dict = field(default_factory=dict)
    ep: dict = field(default_factory=dict)
    wg: dict = field(default_factory=dict)

    @classmethod
    def from_counter(cls, net, counter, batch):
        """From a :class:`~ganforge.golden.retrain.WorkCounter` of one full step of
        ``batch`` samples (every layer trainable)."""
        names = [layer.name for layer in net.layers]
        params = [layer.name for layer in net.layers if layer.params]

        def per(phase):
            return {n: counter.macs.get((n, phase), 0) / batch for n in names}
        return cls(names, params, per("FP"), per("EP"), per("WG"))

    def lowest(self, trainable):
        idx = [self.names.index(n) for n in trainable]
        if not idx:
            raise ValueError("a trainable set needs at least one layer")
        return min(idx)

    def step(self, trainable, batch=1):
        """MACs of one retraining step of ``batch`` samples with ``trainable`` layers."""
        lo = self.lowest(trainable)
        above = self.names[lo:]
        return batch * (sum(self.fp[n] for n in above) + sum(self.ep[n] for n in above[1:])
                        + sum(self.wg[n] for n in trainable))

    def prefix(self, trainable, samples):
        """MACs of the frozen prefix's FP, once for each of ``samples`` user samples."""
        return samples * sum(self.fp[n] for n in self.names[:self.lowest(trainable)])

    def full_step(self, batch=1):
        return self.step(self.params, batch)


def first_order_drop(net):
    """``{layer: Σ|g|}`` over the parameters of each layer with parameters, from the
    gradients of the last backward (device mode: :class:`~ganforge.golden.nn.QT`)."""
    out = {}
    for layer in net.layers:
        if not layer.params:
            continue
        total = 0.0
        for name in layer.params:
            g = layer.grads[name]
            total += float(np.abs(np.asarray(g.q, dtype=np.float64)).sum()) * 2.0 ** -g.frac
        out[layer.name] = total
    return out


@dataclass
class Selection:
    """The layers SELRET chose, in the order they joined, with the numbers behind it."""
    layers: list
    order: list            #: (layer, drop, added MACs per sample) in joining order
    coverage: float        #: the share of the total first-order drop the layers carry


def select(costs, drop, coverage=COVERAGE, floor=FLOOR):
    """The SELRET rule (module docstring): greedy by first-order drop per added MAC over
    the layers that carry at least ``floor`` of the total drop, until the chosen layers
    carry ``coverage`` of it."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor!r}")
    missing = sorted(set(costs.params) - set(drop))
    if missing:
        raise ValueError(f"first-order drop missing for {', '.join(missing)}")
    total = sum(drop[n] for n in costs.params)
    worth = [n for n in costs.params if drop[n] >= floor * total]
    chosen, order, carried = [], [], 0.0
    while carried < coverage * total and len(chosen) < len(worth):
        base = costs.step(chosen) if chosen else 0.0
        best, best_key = None, None
        for n in worth:
            if n in chosen:
                continue
            added = costs.step(chosen + [n]) - base
            key = (float("inf") if added <= 0 else drop[n] / added, drop[n])
            if best_key is None or key > best_key:
                best, best_key = (n, added), key
        chosen.append(best[0])
        order.append((best[0], drop[best[0]], best[1]))
        carried += drop[best[0]]
    chosen.sort(key=costs.names.index)
    return Selection(chosen, order, carried / total if total else 1.0)


def baseline_sets(costs, k, seed=0, draws=3):
    """The baselines with ``k`` parameterised layers: ``{"last": [...], "first": [...],
    "random 1": [...], ...}`` (``draws`` random sets from ``seed``)."""
    if not 1 <= k <= len(costs.params):
        raise ValueError(f"k must be in 1..{len(costs.params)}, got {k!r}")
    out = {"last": costs.params[-k:], "first": costs.params[:k]}
    rng = np.random.default_rng(seed)
    for i in range(draws):
        pick = sorted(rng.choice(len(costs.params), size=k, replace=False))
        out[f"random {i + 1}"] = [costs.params[j] for j in pick]
    return out


def relative_change(before, after):
    """``{layer: ‖w_after − w_before‖ / ‖w_before‖}`` over each layer's parameters (the
    integer masters of two copies of one network)."""
    out = {}
    for a, b in zip(before.layers, after.layers):
        if not a.params:
            continue
        num = sum(float(np.sum((np.asarray(b.params[k], np.float64) - np.asarray(a.params[k], np.float64)) ** 2))
                  for k in a.params)
        den = sum(float(np.sum(np.asarray(a.params[k], np.float64) ** 2)) for k in a.params)
        out[a.name] = float(np.sqrt(num / den)) if den else float("inf")
    return out


def top_changed(change, k, names):
    """The ``k`` layers of the largest relative change, in network order (``names``)."""
    if not 1 <= k <= len(change):
        raise ValueError(f"k must be in 1..{len(change)}, got {k!r}")
    pick = sorted(change, key=lambda n: (-change[n], names.index(n)))[:k]
    return sorted(pick, key=names.index)
