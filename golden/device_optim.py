"""The device's optimizer: Adam in fixed point, with 32-bit master weights.

Memory layout, per parameter tensor of ``P`` elements (all little-endian words):

=============  ========  ============================  ===============================
array          word      fraction bits                 written by
=============  ========  ============================  ===============================
master ``w``   int32     :data:`MASTER_FRAC` = 28      the update unit
``w16``        int16     ``fw`` (register, per tensor) the update unit, from ``w``
``m``          int32     ``fm`` (register, per tensor) the update unit
``v``          int32     ``fv`` (register, even)       the update unit (``v ≥ 0``)
gradient       int16     ``fg`` (register)             the WG drain
=============  ========  ============================  ===============================

plus, per tensor, the registers ``fw``, ``fm``, ``fv``, ``max|m|``, ``max|v|`` (the
update unit's monitors) and the :class:`~.scaling.ScaleState` of ``w16``; and, per
optimizer, the step ``t`` and ``β1**t``, ``β2**t`` with 30 fraction bits.

One step of :class:`FixedAdam` on a tensor, every operation on integers:

1. **moment formats from bounds** (no saturation is possible): ``m_new`` is a convex
   combination of ``m`` and ``g``, so ``|m_new| < 2**em`` with
   ``em = max(bitlen(max|m|) − fm, bitlen(max|g|) − fg)``, and ``fm' = 30 − em``;
   likewise ``fv' = 30 − max(bitlen(max|v|) − fv, bitlen(max g²) − 2·fg)``, rounded
   down to even.
2. ``m' = shift_round(B1·align(m) + (2**24 − B1)·align(g), 24)`` at ``fm'``,
   ``v' = shift_round(B2·align(v) + (2**24 − B2)·align(g²), 24)`` at ``fv'``, where
   ``B = round(β·2**24)`` and ``align`` is :func:`~.fixed.shift_round` to the new
   fraction count (an exact left shift when it gains bits).
3. the ratio ``r = m'/sqrt(v' + 1 LSB)`` with :data:`RATIO_FRAC` = 16:
   ``(rs, k) = rsqrt_vec(v' + 1)``,
   ``r = saturate(shift_round(m'·rs, 31 + k + fm' − fv'/2 − 16), 24)``. The one LSB
   of ``v`` plays Adam's ε (ε = 2**(−fv'/2), about 2**−15 of the tensor's largest
   gradient), and keeps ``r`` at or below its exact value.
4. the step size ``α_t = lr·sqrt(1 − β2**t)/(1 − β1**t)`` with :data:`ALPHA_FRAC` = 40:
   ``b1t ← shift_round(b1t·B1, 24)``, ``b2t ← shift_round(b2t·B2, 24)`` (30 fraction
   bits, from ``2**30``), ``α = (LR·isqrt((2**30 − b2t)·2**30)) // (2**30 − b1t)`` with
   ``LR = round(lr·2**40)``; once per step, by the command processor.
5. ``w ← saturate(w − shift_round(α·r, 40 + 16 − 28), 32)``;
   ``w16 = saturate(shift_round(w, 28 − fw), 16)`` with ``fw`` from the ``w16``
   tensor's delayed scaling (:mod:`.scaling`, headroom 0..4 bits, starting at 0).

Biases never become 16-bit: the output stage adds ``shift_round(w, 28 − frac_acc)``
(saturated to ``acc_width``). Instance-norm γ and β use ``frac_gamma`` = 12 bits.
"""

import math

import numpy as np

from .device_math import rsqrt_vec
from .fixed import as_int_array, quantize, saturate, shift_round
from .nn import QT
from .scaling import ScaleState, bit_length

__all__ = ["MASTER_FRAC", "MASTER_WIDTH", "MOMENT_WIDTH", "BETA_FRAC", "RATIO_FRAC",
           "RATIO_WIDTH", "ALPHA_FRAC", "FixedAdam", "FixedSGDM", "TensorState", "adam_alpha",
           "adam_moments", "adam_ratio", "derive16", "master_from_float"]

#: Fraction bits and width of the master weights.
MASTER_FRAC, MASTER_WIDTH = 28, 32
#: Width of the moments ``m`` and ``v``; the bound rule keeps them below ``2**30``.
MOMENT_WIDTH = 32
#: Fraction bits of β1, β2 and of the products that use them.
BETA_FRAC = 24
#: Fraction bits and width of the ratio ``m/sqrt(v)``.
RATIO_FRAC, RATIO_WIDTH = 16, 24
#: Fraction bits of the step size α_t and of the learning rate.
ALPHA_FRAC = 40
_POW_FRAC = 30


def master_from_float(v):
    """The host's one-time load of initial parameters: ``quantize(v, 28, 32)``."""
    return quantize(v, MASTER_FRAC, MASTER_WIDTH)


def derive16(master, state, width=16, frozen=False):
    """The 16-bit copy of a master tensor, ``fw`` from ``state`` (a :class:`ScaleState`).

    Returns a :class:`~.nn.QT`. The first derivation measures the master itself.
    """
    y, frac, _ = state.requantize(master, MASTER_FRAC, width, frozen=frozen)
    return QT(y, frac)


def _align(q, frac_from, frac_to):
    """``q`` (``frac_from`` fraction bits) at ``frac_to``: a rounded right shift or an exact left one."""
    return shift_round(q, frac_from - frac_to)


def adam_moments(m, fm, m_max, v, fv, v_max, g, fg, b1_q, b2_q):
    """Steps 1 and 2 of :class:`FixedAdam`: ``(m', fm', v', fv')`` from the moments and ``g``.

    ``m_max``, ``v_max``: the monitors of the last write of ``m`` and ``v`` (0 at first).
    """
    g = as_int_array(g, "g")
    g2 = g * g
    g_max = int(np.max(np.abs(g))) if g.size else 0
    cand_m = [bit_length(m_max) - fm] if m_max else []
    cand_m += [bit_length(g_max) - fg] if g_max else []
    cand_v = [bit_length(v_max) - fv] if v_max else []
    cand_v += [bit_length(g_max * g_max) - 2 * fg] if g_max else []
    fm_new = 30 - max(cand_m) if cand_m else fm
    fv_new = 30 - max(cand_v) if cand_v else fv
    fv_new -= fv_new % 2
    one = 1 << BETA_FRAC
    m_new = shift_round(b1_q * _align(m, fm, fm_new) + (one - b1_q) * _align(g, fg, fm_new), BETA_FRAC)
    v_new = shift_round(b2_q * _align(v, fv, fv_new) + (one - b2_q) * _align(g2, 2 * fg, fv_new),
                        BETA_FRAC)
    return m_new, fm_new, v_new, fv_new


def adam_ratio(m, fm, v, fv):
    """Step 3: ``r = m/sqrt(v + 1 LSB)`` with :data:`RATIO_FRAC` fraction bits, saturated to 24 bits."""
    if fv % 2:
        raise ValueError(f"fv must be even, got {fv}")
    m, v = as_int_array(m, "m"), as_int_array(v, "v")
    rs, k = rsqrt_vec(v + 1)
    sh = 31 + k + fm - fv // 2 - RATIO_FRAC
    return saturate(shift_round(m * rs, sh), RATIO_WIDTH)


def adam_alpha(lr_q, b1t, b2t):
    """Step 4: ``α_t = (LR·isqrt((2**30 − b2t)·2**30)) // (2**30 − b1t)`` (40 fraction bits)."""
    one = 1 << _POW_FRAC
    return (int(lr_q) * math.isqrt((one - int(b2t)) << _POW_FRAC)) // (one - int(b1t))


class TensorState:
    """The optimizer's memory of one parameter tensor (see the module docstring)."""

    def __init__(self, shape):
        self.m = np.zeros(shape, dtype=np.int64)
        self.v = np.zeros(shape, dtype=np.int64)
        self.fm, self.fv = 30, 30
        self.m_max = self.v_max = 0
        self.w16 = ScaleState(h_init=0, h_min=0)


def _selected(net, layers):
    """``net.parameters()`` of the layers named in ``layers`` (all when None)."""
    if layers is None:
        return list(net.parameters())
    names = [layer.name for layer in net.layers]
    unknown = sorted(set(layers) - set(names))
    if unknown:
        raise ValueError(f"layers: no layer named {', '.join(unknown)} (layers: {', '.join(names)})")
    return [(layer, name) for layer, name in net.parameters() if layer.name in layers]


class FixedAdam:
    """Adam on the integer master weights of a network (the update unit).

    ``net``: a :class:`~.nn.Sequential` whose layers hold integer masters in
    ``params`` (:data:`MASTER_FRAC` fraction bits) and integer gradients in ``grads``
    (:class:`~.nn.QT`). ``lr``, ``beta1``, ``beta2``: Adam's hyperparameters, quantised
    once into the program's constants ``LR`` (40 fraction bits) and ``B1``, ``B2``
    (24 fraction bits). ``layers`` (layer names, or None for every layer): the layers
    it updates; the others are frozen, hold no optimizer state and need no gradients.
    """

    def __init__(self, net, lr=2e-4, beta1=0.5, beta2=0.999, layers=None):
        for name, v, lo, hi in (("lr", lr, 0.0, 1.0), ("beta1", beta1, 0.0, 1.0),
                                ("beta2", beta2, 0.0, 1.0)):
            if not lo < float(v) < hi:
                raise ValueError(f"{name} must be in ({lo}, {hi}), got {v!r}")
        self.net = net
        self.lr_q = int(quantize(lr, ALPHA_FRAC, 63))
        self.b1_q = int(quantize(beta1, BETA_FRAC, 32))
        self.b2_q = int(quantize(beta2, BETA_FRAC, 32))
        self.t = 0
        self.b1t = self.b2t = 1 << _POW_FRAC
        self.params = _selected(net, layers)
        self.state = {}
        for layer, name in self.params:
            if not np.issubdtype(np.asarray(layer.params[name]).dtype, np.integer):
                raise ValueError(f"FixedAdam: {layer.name}.{name} is not an integer master "
                                 "(put the network in device mode first: nn.to_device)")
            self.state[(layer.name, name)] = TensorState(layer.params[name].shape)
            layer.refresh_device_params(name, self.state[(layer.name, name)])

    def step(self):
        """One update of every parameter tensor from its gradient in ``layer.grads``."""
        self.t += 1
        self.b1t = int(shift_round(self.b1t * self.b1_q, BETA_FRAC))
        self.b2t = int(shift_round(self.b2t * self.b2_q, BETA_FRAC))
        alpha = adam_alpha(self.lr_q, self.b1t, self.b2t)
        for layer, name in self.params:
            st = self.state[(layer.name, name)]
            g = layer.grads[name]
            st.m, st.fm, st.v, st.fv = adam_moments(st.m, st.fm, st.m_max, st.v, st.fv, st.v_max,
                                                    g.q, g.frac, self.b1_q, self.b2_q)
            st.m_max = int(np.max(np.abs(st.m))) if st.m.size else 0
            st.v_max = int(np.max(st.v)) if st.v.size else 0
            r = adam_ratio(st.m, st.fm, st.v, st.fv)
            step = shift_round(alpha * r, ALPHA_FRAC + RATIO_FRAC - MASTER_FRAC)
            layer.params[name] = saturate(layer.params[name] - step, MASTER_WIDTH)
            layer.refresh_device_params(name, st)


class FixedSGDM:
    """SGD with momentum in fixed point, the alternative measured against :class:`FixedAdam`.

    ``m' = shift_round(MU·align(m) + (2**24 − MU)·align(g), 24)`` (the moment rule of
    :func:`adam_moments`, formats from the same bound), then
    ``w ← saturate(w − shift_round(LR·shift_round(m', 8), 40 + fm' − 8 − 28), 32)``
    with ``LR = round(lr·2**40)`` and ``MU = round(momentum·2**24)``. The state is one
    int32 word ``m`` per parameter and the register ``fm``.
    """

    def __init__(self, net, lr=0.05, momentum=0.9):
        if not 0.0 < float(lr) < 4.0:
            raise ValueError(f"lr must be in (0, 4), got {lr!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.net = net
        self.lr_q = int(quantize(lr, ALPHA_FRAC, 63))
        self.mu_q = int(quantize(momentum, BETA_FRAC, 32))
        self.t = 0
        self.params = _selected(net, layers)
        self.state = {}
        for layer, name in self.params:
            self.state[(layer.name, name)] = TensorState(layer.params[name].shape)
            layer.refresh_device_params(name, self.state[(layer.name, name)])

    def step(self):
        """One update of every parameter tensor from its gradient in ``layer.grads``."""
        self.t += 1
        for layer, name in self.net.parameters():
            st = self.state[(layer.name, name)]
            g = layer.grads[name]
            st.m, st.fm, _, _ = adam_moments(st.m, st.fm, st.m_max, st.v, st.fv, 0,
                                             g.q, g.frac, self.mu_q, self.mu_q)
            st.m_max = int(np.max(np.abs(st.m))) if st.m.size else 0
            step = shift_round(self.lr_q * shift_round(st.m, 8), ALPHA_FRAC + st.fm - 8 - MASTER_FRAC)
            layer.params[name] = saturate(layer.params[name] - step, MASTER_WIDTH)
            layer.refresh_device_params(name, st)
