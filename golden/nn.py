"""Layers of the reference GANs, run either in the accelerator's fixed-point
arithmetic or in float64 (the reference), with one code path for both.

In fixed point, every operation a layer does on the device goes through the
bit-exact golden functions: the convolution (FP), its input gradient (EP) and
weight gradient (WG), the output stage (requantise, bias, activation, ReLU
mask), and the ROLIN instance norm. What stays on the host, in float, is what
the accelerator leaves to it: the master weights, the optimiser, the loss, the
generator's output ``tanh``, and the choice of fraction bits.

A ReLU :class:`ConvLayer` can run its fixed-point FP with EORS
(``eors=EorsKnobs(...)``): the output and the ReLU mask used by EP follow the
speculated mask (:func:`.eors.eors_apply`), as the hardware's would.

Fraction bits are chosen per tensor the way a firmware would: the largest
count for which the tensor fits ``width`` bits (:func:`auto_frac`,
:func:`auto_shift`). In device mode (:func:`to_device`) nothing of this is on the
host: the parameters are integer masters updated by :mod:`.device_optim`, every
shift comes from the tensor's delayed scaling (:mod:`.scaling`), and the gradients
are 16-bit :class:`QT`. Tensors are :class:`QT` (integer codes and their
fraction-bit count); in float mode ``frac`` is 0 and ``q`` holds floats.
"""

from collections import namedtuple

import numpy as np

from . import conv as C
from . import fixed as F
from . import instnorm as IN
from .eors import eors_apply, eors_counts, eors_predict

__all__ = ["QT", "Arith", "ConvLayer", "InstanceNormReLU", "Sequential", "Adam", "auto_frac",
           "auto_shift", "to_device"]

QT = namedtuple("QT", "q frac")
QT.__doc__ = "A tensor: integer codes ``q`` with ``frac`` fraction bits (float mode: floats, frac 0)."


def auto_frac(v, width, max_frac=30):
    """Largest fraction-bit count for which float ``v`` fits ``width`` bits (at most ``max_frac``)."""
    m = float(np.max(np.abs(v))) if np.size(v) else 0.0
    if m == 0.0:
        return max_frac
    f = int(np.floor(np.log2(((1 << (width - 1)) - 1) / m)))
    return int(min(max(f, -16), max_frac))


def auto_shift(acc, width):
    """Smallest right shift ``s ≥ 0`` after which integer ``acc`` fits ``width`` bits unsaturated."""
    m = int(np.max(np.abs(acc))) if np.size(acc) else 0
    s = max(0, m.bit_length() - (width - 1))
    while s < 62 and (m + (1 << (s - 1) if s else 0)) >> s > (1 << (width - 1)) - 1:
        s += 1
    return s


class Arith:
    """The number system a network runs in: ``Arith(fixed=True, width=16)`` or float."""

    def __init__(self, fixed=True, width=16, acc_width=48):
        self.fixed, self.width, self.acc_width = fixed, width, acc_width

    def from_float(self, v, frac=None):
        v = np.asarray(v, dtype=np.float64)
        if not self.fixed:
            return QT(v, 0)
        frac = auto_frac(v, self.width) if frac is None else frac
        return QT(F.quantize(v, frac, self.width), frac)

    def to_float(self, t):
        return t.q if not self.fixed else F.dequantize(t.q, t.frac)

    def requantize_auto(self, acc, frac):
        """Requantise an exact accumulator to ``width`` bits with the finest shift that fits."""
        s = auto_shift(acc, self.width)
        return QT(F.requantize(acc, s, self.width), frac - s)


def _act_float(pre, activation, slope_shift):
    if activation == "relu":
        return np.maximum(pre, 0.0)
    if activation == "leaky_relu":
        return np.where(pre > 0, pre, pre * 2.0 ** -slope_shift)
    return pre


def _act_backward_float(dy, mask, activation, slope_shift):
    if activation == "relu":
        return np.where(mask, dy, 0.0)
    if activation == "leaky_relu":
        return np.where(mask, dy, dy * 2.0 ** -slope_shift)
    return dy


class ConvLayer:
    """A convolution or transposed convolution with bias and activation.

    Parameters
    ----------
    cin, cout, kernel, stride, padding : the layer's shape.
    transposed : a transposed convolution (generator layer) when True.
    activation : ``"identity"``, ``"relu"`` or ``"leaky_relu"`` (slope ``2**-slope_shift``).
    bias : whether the layer has a bias (added in the accumulator by the output stage).
    eors : None (exact FP), or an :class:`~.eors.EorsKnobs` for a ReLU layer: its
        fixed-point FP then skips the outputs EORS predicts ≤ 0 (output 0, mask 0,
        also for EP), and ``eors_totals`` counts the prediction against the true
        mask over every FP (:func:`~.eors.eors_counts`), like the hardware's counters.
    """

    def __init__(self, name, cin, cout, kernel, stride=1, padding=0, *, transposed=False,
                 activation="relu", slope_shift=2, bias=True, rng=None, eors=None):
        if eors is not None and activation != "relu":
            raise ValueError(f"{name}: EORS needs a ReLU layer, got activation {activation!r}")
        self.eors = eors
        self.eors_totals = {}
        rng = rng if rng is not None else np.random.default_rng(0)
        self.name, self.cin, self.cout, self.k = name, cin, cout, kernel
        self.stride, self.padding, self.transposed = stride, padding, transposed
        self.activation, self.slope_shift = activation, slope_shift
        shape = (cin, cout, kernel, kernel) if transposed else (cout, cin, kernel, kernel)
        self.params = {"w": rng.normal(0.0, 0.02 * 5, shape) / np.sqrt(cin * kernel * kernel / 16)}
        if bias:
            self.params["b"] = np.zeros(cout)
        self.grads = {}
        self.cache = None
        self.record = {}
        #: None, or what runs the layer's FP, EP and WG in fixed point instead of NumPy:
        #: an object with ``run(layer, phase, op, tensors, params, expect)`` returning the
        #: op's result (``phase``: "FP", "EP", "WG"; ``op``, ``tensors``, ``params`` as
        #: :func:`~ganforge.golden.reference_result` takes them; ``expect``: the golden
        #: result). The shifts stay the golden model's choice.
        self.device = None
        #: Device mode (:func:`to_device`): the network's :class:`~.scaling.Scaler`, and the
        #: 16-bit weights derived from the integer masters in ``params``.
        self.scaler = None
        self.w16 = {}

    # --- the device operations -------------------------------------------------
    def _fp(self, x, w):
        if self.transposed:
            return C.conv_transpose2d(x, w, self.stride, self.padding)
        return C.conv2d(x, w, self.stride, self.padding)

    def _ep(self, dpre, w, in_hw):
        if self.transposed:
            return C.conv_transpose2d_input_grad(dpre, w, self.stride, self.padding)
        return C.conv2d_input_grad(dpre, w, self.stride, self.padding, in_hw)

    def _wg(self, x, dpre):
        if self.transposed:
            return C.conv_transpose2d_weight_grad(x, dpre, self.stride, self.padding, self.k)
        return C.conv2d_weight_grad(x, dpre, self.stride, self.padding, self.k)

    def forward(self, x, ar):
        """FP of the layer on ``x`` (a :class:`QT`); returns the activated output."""
        w = self.params["w"]
        if ar.fixed and self.scaler is not None:
            out, mask = self._forward_device(x, ar)
        elif ar.fixed:
            wq = ar.from_float(w)
            acc = self._fp(x.q, wq.q)
            facc = x.frac + wq.frac
            bias = F.quantize(self.params["b"], facc, ar.acc_width) if "b" in self.params else None
            full = acc + (bias[None, :, None, None] if bias is not None else 0)
            shift = auto_shift(full, ar.width)
            y, mask = F.output_stage(acc, shift, ar.width, self.activation, self.slope_shift, bias)
            if self.eors is not None:
                y, mask = self._eors(x.q, wq.q, bias, shift, y, mask, ar)
            elif self.device is not None:
                y, mask = self._fp_on_device(x.q, wq.q, shift, bias, y)
            out = QT(y, facc - shift)
            self.cache = (x, wq, mask)
            self.record.update(shift=shift, w_frac=wq.frac, x_frac=x.frac, y_frac=out.frac)
        else:
            if self.eors is not None:
                raise ValueError(f"{self.name}: EORS is defined on fixed-point operands only")
            pre = self._fp(x.q, w)
            if "b" in self.params:
                pre = pre + self.params["b"][None, :, None, None]
            mask = pre > 0
            out = QT(_act_float(pre, self.activation, self.slope_shift), 0)
            self.cache = (x, QT(w, 0), mask)
        self.record["fp_in_zero"] = float(np.mean(x.q == 0))
        self.record["fp_out_zero"] = float(np.mean(~mask)) if self.activation == "relu" else 0.0
        return out

    def refresh_device_params(self, name, state):
        """Device mode: derive the 16-bit weights from the master after an update
        (``state``: the optimizer's :class:`~.device_optim.TensorState` of ``name``)."""
        from .device_optim import derive16
        if name == "w":
            self.w16["w"] = derive16(self.params["w"], state.w16, frozen=self.scaler.frozen)

    def _forward_device(self, x, ar):
        """Device-mode FP: 16-bit weights from the masters, the bias from its master, the
        shift from the ``FP`` tensor's delayed scaling (:mod:`.scaling`)."""
        from .device_optim import MASTER_FRAC
        wq = self.w16["w"]
        acc = self._fp(x.q, wq.q)
        facc = x.frac + wq.frac
        bias = None
        full = acc
        if "b" in self.params:
            bias = F.saturate(F.shift_round(self.params["b"], MASTER_FRAC - facc), ar.acc_width)
            full = acc + bias[None, :, None, None]
        st = self.scaler.state(self.name + ".FP")
        shift = st.shift(facc, ar.width, full)
        y, mask = F.output_stage(acc, shift, ar.width, self.activation, self.slope_shift, bias)
        if not self.scaler.frozen:
            st.observe(F.shift_round(full, shift), facc - shift, ar.width)
        if self.device is not None:
            y, mask = self._fp_on_device(x.q, wq.q, shift, bias, y)
        out = QT(y, facc - shift)
        self.cache = (x, wq, mask)
        self.record.update(shift=shift, w_frac=wq.frac, x_frac=x.frac, y_frac=out.frac)
        return out, mask

    def _backward_device(self, dy, ar, need_input_grad, weight_grad=True):
        """Device-mode EP and WG: gradients are 16-bit :class:`QT`, every shift from the
        tensor's delayed scaling (``WG``, ``dB`` the bias gradient, ``EP``)."""
        x, wq, mask = self.cache
        in_hw = x.q.shape[2:]
        sc = self.scaler
        dpre = F.activation_backward(dy.q, mask, self.activation, self.slope_shift)
        geo = dict(stride=self.stride, padding=self.padding)
        if weight_grad:
            f_wg = x.frac + dy.frac
            y, f, _ = sc.requantize(self.name + ".WG", self._wg(x.q, dpre), f_wg, ar.width)
            self.grads["w"] = self._on_device(
                "WG", QT(y, f), "conv_transpose_weight_grad" if self.transposed else "conv_weight_grad",
                {"x": x.q, "dy": dpre}, dict(geo, kernel_size=self.k), f_wg)
            if "b" in self.params:
                y, f, _ = sc.requantize(self.name + ".dB", dpre.sum(axis=(0, 2, 3)), dy.frac, ar.width)
                self.grads["b"] = QT(y, f)
        dx = None
        if need_input_grad:
            f_ep = dy.frac + wq.frac
            y, f, _ = sc.requantize(self.name + ".EP", self._ep(dpre, wq.q, in_hw), f_ep, ar.width)
            ep = dict(geo) if self.transposed else dict(geo, input_hw=tuple(in_hw))
            dx = self._on_device("EP", QT(y, f),
                                 "conv_transpose_input_grad" if self.transposed else "conv_input_grad",
                                 {"dy": dpre, "w": wq.q}, ep, f_ep)
        self.last_dpre = QT(dpre, dy.frac)
        self.record["ep_in_zero"] = float(np.mean(dpre == 0))
        return dx

    def _fp_on_device(self, xq, wq, shift, bias, y):
        """The device's FP output (``y``: the golden one) and its mask: the output stage's
        mask is ``pre > 0``, so ``y > 0``."""
        params = dict(stride=self.stride, padding=self.padding, shift=shift,
                      activation=self.activation, slope_shift=self.slope_shift)
        if bias is not None:
            params["bias"] = bias
        y = self.device.run(self, "FP", "conv_transpose" if self.transposed else "conv",
                            {"x": xq, "w": wq}, params, y)
        return y, y > 0

    def _eors(self, xq, wq, bias, shift, y, mask, ar):
        """Speculate on this FP, count against the true ``mask``; the EORS output and mask."""
        pred = eors_predict(xq, wq, bias, self.stride, self.padding,
                            op="conv_transpose" if self.transposed else "conv",
                            mantissa_bits=self.eors.mantissa_bits,
                            margin=self.eors.margin(shift), acc_width=ar.acc_width)
        for key, value in eors_counts(pred, mask).items():
            self.eors_totals[key] = self.eors_totals.get(key, 0) + value
        return eors_apply(y, mask, pred)

    def _on_device(self, phase, t, op, tensors, params, frac):
        """``t`` (the golden requantised result, a :class:`QT` of ``frac - shift`` fraction
        bits), or the device's result of ``op`` with the same shift when a device is set."""
        if self.device is None:
            return t
        shift = frac - t.frac
        return QT(self.device.run(self, phase, op, tensors, dict(params, shift=shift), t.q), t.frac)

    def backward(self, dy, ar, need_input_grad=True, weight_grad=True):
        """EP and WG: returns the error at the layer input (or None); fills ``grads``.

        ``weight_grad=False`` (a frozen layer): no WG and no bias gradient are computed,
        ``grads`` is left as it was."""
        if ar.fixed and self.scaler is not None:
            return self._backward_device(dy, ar, need_input_grad, weight_grad)
        x, wq, mask = self.cache
        in_hw = x.q.shape[2:]
        if ar.fixed:
            dpre = F.activation_backward(dy.q, mask, self.activation, self.slope_shift)
            geo = dict(stride=self.stride, padding=self.padding)
            if weight_grad:
                dw = self._on_device("WG", ar.requantize_auto(self._wg(x.q, dpre), x.frac + dy.frac),
                                     "conv_transpose_weight_grad" if self.transposed else "conv_weight_grad",
                                     {"x": x.q, "dy": dpre}, dict(geo, kernel_size=self.k),
                                     x.frac + dy.frac)
                self.grads["w"] = ar.to_float(dw)
                if "b" in self.params:
                    self.grads["b"] = F.dequantize(dpre.sum(axis=(0, 2, 3)), dy.frac)
            dx = None
            if need_input_grad:
                ep = dict(geo) if self.transposed else dict(geo, input_hw=tuple(in_hw))
                dx = self._on_device("EP", ar.requantize_auto(self._ep(dpre, wq.q, in_hw),
                                                              dy.frac + wq.frac),
                                     "conv_transpose_input_grad" if self.transposed else "conv_input_grad",
                                     {"dy": dpre, "w": wq.q}, ep, dy.frac + wq.frac)
        else:
            dpre = _act_backward_float(dy.q, mask, self.activation, self.slope_shift)
            if weight_grad:
                self.grads["w"] = self._wg(x.q, dpre)
                if "b" in self.params:
                    self.grads["b"] = dpre.sum(axis=(0, 2, 3))
            dx = QT(self._ep(dpre, wq.q, in_hw), 0) if need_input_grad else None
        self.last_dpre = QT(dpre, dy.frac)
        self.record["ep_in_zero"] = float(np.mean(dpre == 0))
        return dx


class InstanceNormReLU:
    """Instance norm + ReLU, in fixed point the ROLIN split of :mod:`.instnorm`.

    ``frac_gamma`` fraction bits for γ and β; the normalised output has
    ``width − 5`` fraction bits (range ±16); ``x̂`` has ``width − 6``.
    """

    FRAC_GAMMA = 12
    SCALE_FRAC = 16

    #: Device mode: epsilon is the program constant ``round(eps·2**60)``.
    EPS_FRAC = 60

    def __init__(self, name, channels, eps=1e-5):
        self.name, self.channels, self.eps = name, channels, eps
        self.params = {"gamma": np.ones(channels), "beta": np.zeros(channels)}
        self.grads, self.cache, self.record = {}, None, {}
        #: Device mode (:func:`to_device`): the network's :class:`~.scaling.Scaler`;
        #: ``params`` then hold integer masters.
        self.scaler = None

    def refresh_device_params(self, name, state):
        """Device mode: γ and β are read from their masters at each use; nothing to derive."""

    def _device_gamma_beta_eps(self, frac_x, width):
        """Device mode: ``(γ, β)`` with ``FRAC_GAMMA`` bits from the masters,
        ``saturate(shift_round(master, 28 − 12), width)``, and
        ``eps_q = max(1, shift_round(round(eps·2**60), 60 − 2·frac_x))``."""
        from .device_optim import MASTER_FRAC
        sh = MASTER_FRAC - self.FRAC_GAMMA
        gq = F.saturate(F.shift_round(self.params["gamma"], sh), width)
        bq = F.saturate(F.shift_round(self.params["beta"], sh), width)
        eps_c = int(F.quantize(self.eps, self.EPS_FRAC, 63))
        eps_q = max(1, int(F.shift_round(np.int64(eps_c), self.EPS_FRAC - 2 * frac_x)))
        return gq, bq, eps_q

    def forward(self, x, ar):
        g, b = self.params["gamma"], self.params["beta"]
        if ar.fixed:
            fg = self.FRAC_GAMMA
            if self.scaler is not None:
                gq, bq, eps_q = self._device_gamma_beta_eps(x.frac, ar.width)
            else:
                gq, bq = F.quantize(g, fg, ar.width), F.quantize(b, fg, ar.width)
                eps_q = IN.eps_to_fixed(self.eps, x.frac)
            s1, s2 = IN.in_stats(x.q)
            count = x.q.shape[2] * x.q.shape[3]
            fy = ar.width - 5
            p = IN.in_params(s1, s2, count, gq, bq, frac_x=x.frac, frac_y=fy, frac_gamma=fg,
                             eps_q=eps_q, scale_frac=self.SCALE_FRAC)
            y, mask = IN.in_apply(x.q, p, ar.width, "relu")
            self.cache = (x, gq, s1, p, mask, count)
            out = QT(y, fy)
        else:
            pre, xhat, sigma = IN.instance_norm_float(x.q, g, b, self.eps)
            mask = pre > 0
            self.cache = (x, xhat, sigma, mask)
            out = QT(np.maximum(pre, 0.0), 0)
        self.record["fp_out_zero"] = float(np.mean(~mask))
        return out

    def _backward_device(self, dy, ar, weight_grad=True):
        """Device-mode backward: ``dγ``, ``dβ`` to 16 bits and ``dx``'s fraction bits by
        the delayed scaling of the ``dgamma``, ``dbeta`` and ``EP`` tensors (:mod:`.scaling`;
        the first step measures ``dx`` at a trial ``frac_dx = frac_dy``)."""
        x, gq, s1, p, mask, count = self.cache
        fg, fxh = self.FRAC_GAMMA, ar.width - 6
        sc = self.scaler
        dpre = np.where(mask, dy.q, 0)
        xhat = IN.in_xhat(x.q, s1, count, p.rs, p.k, fxh, ar.width)
        t1, t2 = IN.in_backward_stats(dpre, xhat)
        if weight_grad:
            dg, db = IN.in_param_grads(t1, t2)
            y, f, _ = sc.requantize(self.name + ".dgamma", dg, dy.frac + fxh, ar.width)
            self.grads["gamma"] = QT(y, f)
            y, f, _ = sc.requantize(self.name + ".dbeta", db, dy.frac, ar.width)
            self.grads["beta"] = QT(y, f)

        def pre_at(frac_dx):
            c = IN.in_backward_params(t1, t2, count, gq, p.rs, p.k, frac_x=x.frac, frac_dy=dy.frac,
                                      frac_dx=frac_dx, frac_gamma=fg, frac_xhat=fxh,
                                      coef_frac=self.SCALE_FRAC)
            acc = c.c1[:, :, None, None] * dpre + c.c2[:, :, None, None] * xhat + c.c3[:, :, None, None]
            return F.shift_round(acc, c.coef_frac)

        st = sc.state(self.name + ".EP")
        if st.exp is None:                      # calibration: measure a trial pass
            m = int(np.max(np.abs(pre_at(dy.frac))))
            frac_dx = st.frac_out(ar.width, m.bit_length() - dy.frac) if m else dy.frac
        else:
            frac_dx = st.frac_out(ar.width)
        pre = pre_at(frac_dx)
        if not sc.frozen:
            st.observe(pre, frac_dx, ar.width)
        self.last_dpre = QT(dpre, dy.frac)
        self.record["ep_in_zero"] = float(np.mean(dpre == 0))
        return QT(F.saturate(pre, ar.width), frac_dx)

    def backward(self, dy, ar, need_input_grad=True, weight_grad=True):
        """The error at the norm's input; ``grads`` gets ``dγ`` and ``dβ`` unless
        ``weight_grad=False`` (a frozen layer). The input error is always computed."""
        if ar.fixed and self.scaler is not None:
            return self._backward_device(dy, ar, weight_grad)
        if ar.fixed:
            x, gq, s1, p, mask, count = self.cache
            fg, fxh = self.FRAC_GAMMA, ar.width - 6
            dpre = np.where(mask, dy.q, 0)
            xhat = IN.in_xhat(x.q, s1, count, p.rs, p.k, fxh, ar.width)
            t1, t2 = IN.in_backward_stats(dpre, xhat)
            if weight_grad:
                dg, db = IN.in_param_grads(t1, t2)
                self.grads["gamma"] = F.dequantize(dg, dy.frac + fxh)
                self.grads["beta"] = F.dequantize(db, dy.frac)

            def coefs(frac_dx):
                return IN.in_backward_params(t1, t2, count, gq, p.rs, p.k, frac_x=x.frac,
                                             frac_dy=dy.frac, frac_dx=frac_dx, frac_gamma=fg,
                                             frac_xhat=fxh, coef_frac=self.SCALE_FRAC)
            # Choose dx's fraction bits the way a firmware would: a trial at dy's, then the
            # finest count that leaves one bit of headroom.
            c = coefs(dy.frac)
            acc = c.c1[:, :, None, None] * dpre + c.c2[:, :, None, None] * xhat + c.c3[:, :, None, None]
            bits = int(np.max(np.abs(F.shift_round(acc, c.coef_frac)))).bit_length()
            frac_dx = dy.frac + (ar.width - 2 - bits)
            c = coefs(frac_dx)
            dx = QT(IN.in_backward_apply(dpre, xhat, c, ar.width), frac_dx)
            self.last_dpre = QT(dpre, dy.frac)
        else:
            x, xhat, sigma, mask = self.cache
            dpre = np.where(mask, dy.q, 0.0)
            dxf, dg, db = IN.instance_norm_float_backward(dpre, xhat, sigma, self.params["gamma"])
            if weight_grad:
                self.grads["gamma"], self.grads["beta"] = dg, db
            dx = QT(dxf, 0)
        self.record["ep_in_zero"] = float(np.mean(dpre == 0))
        return dx


class Sequential:
    """A chain of layers with FP and the chained EP/WG."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x, ar):
        for layer in self.layers:
            x = layer.forward(x, ar)
        return x

    def backward(self, dy, ar, need_input_grad=False, trainable=None):
        """EP and WG from the last layer down; returns the error at the input (or None).

        ``trainable`` (a set of layer names, or None for all): the layers whose parameter
        gradients are computed. The others are frozen: no WG. Below the lowest trainable
        layer nothing runs at all (no EP, no WG), unless ``need_input_grad``."""
        if trainable is None:
            lowest = 0
        else:
            names = {layer.name for layer in self.layers}
            unknown = sorted(set(trainable) - names)
            if unknown:
                raise ValueError(f"trainable: no layer named {', '.join(unknown)} "
                                 f"(layers: {', '.join(layer.name for layer in self.layers)})")
            idx = [i for i, layer in enumerate(self.layers) if layer.name in trainable]
            lowest = 0 if need_input_grad or not idx else min(idx)
            if not idx and not need_input_grad:
                return None
        for i, layer in reversed(list(enumerate(self.layers))):
            if i < lowest:
                break
            wg = trainable is None or layer.name in trainable
            dy = layer.backward(dy, ar, need_input_grad=(i > lowest or need_input_grad),
                                weight_grad=wg)
        return dy if lowest == 0 else None

    def parameters(self):
        return [(layer, name) for layer in self.layers for name in layer.params]


def to_device(net):
    """Put a :class:`Sequential` in device mode: its parameters become integer masters
    (the host's one-time load, :func:`~.device_optim.master_from_float`) and every layer
    shares one :class:`~.scaling.Scaler`. Returns the scaler. The 16-bit weights are
    derived when a :class:`~.device_optim.FixedAdam` is made on the network."""
    from .device_optim import master_from_float
    from .scaling import Scaler
    scaler = Scaler()
    for layer in net.layers:
        if getattr(layer, "eors", None) is not None:
            raise ValueError(f"{layer.name}: device mode does not run EORS")
        layer.scaler = scaler
        for name in list(layer.params):
            layer.params[name] = master_from_float(layer.params[name])
    net.scaler = scaler
    return scaler


class Adam:
    """Adam on the float master weights of a :class:`Sequential` (host side)."""

    def __init__(self, net, lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8):
        self.net, self.lr, self.b1, self.b2, self.eps = net, lr, beta1, beta2, eps
        self.m = {(id(l), n): 0.0 for l, n in net.parameters()}
        self.v = dict(self.m)
        self.t = 0

    def step(self):
        self.t += 1
        for layer, name in self.net.parameters():
            key = (id(layer), name)
            g = layer.grads[name]
            self.m[key] = self.b1 * self.m[key] + (1 - self.b1) * g
            self.v[key] = self.b2 * self.v[key] + (1 - self.b2) * g * g
            mh = self.m[key] / (1 - self.b1 ** self.t)
            vh = self.v[key] / (1 - self.b2 ** self.t)
            layer.params[name] = layer.params[name] - self.lr * mh / (np.sqrt(vh) + self.eps)
