"""Training loops of the reference GANs, in the accelerator's arithmetic.

* :func:`build_dcgan` / :func:`train_dcgan`: a DCGAN-style generator
  (transposed convolutions 1→4→8→16) and discriminator (strided convolutions
  16→8→4→1) on 16×16 digits.
* :func:`build_i2i` / :func:`train_i2i`: an image-to-image generator with
  conv → instance norm → ReLU blocks that restores digits with an erased square
  (L1 loss), the ROLIN workload.

FP, EP and WG of every layer run in the bit-exact fixed-point golden model
(``Arith(fixed=True)``) or in float64 (the reference); the loss, the
generator's output ``tanh`` and Adam run on the host in float.

``mode="device"`` (fixed point only) is the arithmetic of training on the device with
no host arithmetic between phases: delayed per-tensor scaling (:mod:`.scaling`), the
fixed-point Adam on 32-bit masters (:mod:`.device_optim`), and the integer tanh and
loss-gradient unit (:mod:`.device_math`). The host only quantises the real images (14
fraction bits) and latent vectors (12) once, and reads the samples and the logits (for
the reported losses). ``mode="host"`` (the default) is the arithmetic above, unchanged.

``train_dcgan(..., eors=EorsKnobs(...))`` trains with EORS on: every ReLU
layer's fixed-point FP (G1, G2, and D1, D2 when their activation is ReLU)
skips the outputs the speculation predicts ≤ 0, in the forward output and in
the mask its EP uses (:mod:`.eors`). ``eors=None`` (the default) is the exact
path, unchanged.
"""

import contextlib

import numpy as np

from . import device_math as DM
from .data import load_digits16, corrupt
from .fixed import quantize
from .nn import QT, Adam, ConvLayer, InstanceNormReLU, Sequential, to_device

__all__ = ["build_dcgan", "train_dcgan", "build_i2i", "train_i2i", "generate", "i2i_forward",
           "NZ", "IMG_FRAC", "MODES", "Z_FRAC"]

#: The training modes: the host's arithmetic around the device's layers, or all on the device.
MODES = ("host", "device")
#: Latent vectors enter the generator with 12 fraction bits (16-bit data).
Z_FRAC = 12

#: Latent size of the DCGAN generator.
NZ = 32
#: Images in [-1, 1] enter the networks with 14 fraction bits (16-bit data).
IMG_FRAC = 14


def build_dcgan(seed=0, d_activation="relu", eors=None):
    """Return ``(G, D)``; ``d_activation`` is the discriminator's hidden activation.

    ``eors`` (an :class:`~.eors.EorsKnobs` or None) is given to every ReLU layer.
    """
    rng = np.random.default_rng(seed)
    d_eors = eors if d_activation == "relu" else None
    g = Sequential([
        ConvLayer("G1", NZ, 64, 4, 1, 0, transposed=True, activation="relu", rng=rng, eors=eors),
        ConvLayer("G2", 64, 32, 4, 2, 1, transposed=True, activation="relu", rng=rng, eors=eors),
        ConvLayer("G3", 32, 1, 4, 2, 1, transposed=True, activation="identity", rng=rng),
    ])
    d = Sequential([
        ConvLayer("D1", 1, 32, 4, 2, 1, activation=d_activation, rng=rng, eors=d_eors),
        ConvLayer("D2", 32, 64, 4, 2, 1, activation=d_activation, rng=rng, eors=d_eors),
        ConvLayer("D3", 64, 1, 4, 1, 0, activation="identity", rng=rng),
    ])
    return g, d


def _img_frac(ar):
    return ar.width - 2


def _check_mode(mode, where):
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {MODES}, got {mode!r}")


@contextlib.contextmanager
def _frozen(net, tag):
    """A read-out pass of a device-mode network: the ``tag`` pass's scaling, frozen."""
    sc = net.scaler
    old = sc.tag, sc.frozen
    sc.tag, sc.frozen = tag, True
    try:
        yield
    finally:
        sc.tag, sc.frozen = old


def _generate_device(g, zq, ar):
    """Device-mode generator FP on quantised latents: ``(images QT (14 bits), G's output QT)``."""
    pre = g.forward(QT(zq, Z_FRAC), ar)
    return QT(DM.tanh_fixed(pre.q, pre.frac), DM.TANH_FRAC), pre


def generate(g, z, ar, mode="host"):
    """Generator FP on latent ``z`` ``[N, NZ]``; returns ``(images in [-1, 1], pre-tanh output)``.

    ``mode="device"``: ``g`` trained in device mode; the latents are quantised with 12
    fraction bits, the generator's scaling is that of its training step (frozen), and the
    images come from the tanh unit (the pre-tanh output is then a :class:`~.nn.QT`).
    """
    _check_mode(mode, "generate")
    if mode == "device":
        with _frozen(g, "g"):
            img, pre = _generate_device(g, quantize(z[:, :, None, None], Z_FRAC, ar.width), ar)
        return img.q / 2.0 ** img.frac, pre
    zt = ar.from_float(z[:, :, None, None], frac=ar.width - 4)
    out = ar.to_float(g.forward(zt, ar))
    return np.tanh(out), out


def _bce_grad(logits, target):
    """Mean binary cross-entropy on logits and its gradient."""
    p = 1.0 / (1.0 + np.exp(-logits))
    loss = np.mean(np.logaddexp(0.0, logits) - target * logits)
    return loss, (p - target) / logits.size


def train_dcgan(arith, iterations=1500, batch=64, seed=0, lr=2e-4, d_activation="relu",
                progress=None, data=None, eors=None, device=None, mode="host", optimizer="adam"):
    """Train the DCGAN; returns a dict with ``G``, ``D``, ``losses`` and ``eors_totals``.

    ``mode``: ``"host"`` (default) or ``"device"`` (see the module docstring; fixed point
    only, no EORS). In device mode the result also has ``saturations`` (per tensor, over
    the whole training) and the parameters are integer masters (28 fraction bits).
    ``optimizer`` (device mode): ``"adam"`` (:class:`~.device_optim.FixedAdam`, the
    chosen one) or ``"sgdm"`` (:class:`~.device_optim.FixedSGDM` with learning rate ``lr``).

    ``device``: None, or what runs every layer's FP, EP and WG (fixed point only; see
    :attr:`ConvLayer.device <.nn.ConvLayer>`): the accelerator, in the system's runtime.

    ``progress``: optional callable ``progress(i, iterations, info)`` for a progress bar.
    ``eors``: None, or :class:`~.eors.EorsKnobs` to train with EORS on (fixed point
    only); ``eors_totals`` is then ``{layer: eors_counts summed over every FP}``
    (empty without EORS).
    """
    _check_mode(mode, "train_dcgan")
    if optimizer not in ("adam", "sgdm"):
        raise ValueError(f"train_dcgan: optimizer must be 'adam' or 'sgdm', got {optimizer!r}")
    if optimizer != "adam" and mode != "device":
        raise ValueError("train_dcgan: optimizer='sgdm' is a device-mode optimizer")
    if mode == "device":
        if not arith.fixed:
            raise ValueError("train_dcgan: mode='device' needs the fixed-point arithmetic")
        if eors is not None:
            raise ValueError("train_dcgan: mode='device' does not run EORS")
        return _train_dcgan_device(arith, iterations, batch, seed, lr, d_activation, progress,
                                   data, device, optimizer)
    if eors is not None and not arith.fixed:
        raise ValueError("train_dcgan: EORS needs the fixed-point arithmetic")
    rng = np.random.default_rng(seed)
    images, _ = data if data is not None else load_digits16()
    g, d = build_dcgan(seed, d_activation, eors)
    if device is not None:
        if not arith.fixed:
            raise ValueError("train_dcgan: a device runs the fixed-point arithmetic only")
        for layer in g.layers + d.layers:
            layer.device = device
    opt_g, opt_d = Adam(g, lr), Adam(d, lr)
    frac = _img_frac(arith)
    losses = []
    for it in range(iterations):
        real = images[rng.integers(0, len(images), size=batch)]
        z = rng.normal(size=(batch, NZ))
        fake, _ = generate(g, z, arith)
        # Discriminator: real and fake in one batch, real labels smoothed to 0.9.
        both = arith.from_float(np.concatenate([real, fake]), frac=frac)
        logits = arith.to_float(d.forward(both, arith)).reshape(-1)
        target = np.concatenate([np.full(batch, 0.9), np.zeros(batch)])
        loss_d, dl = _bce_grad(logits, target)
        d.backward(arith.from_float(dl.reshape(-1, 1, 1, 1)), arith)
        opt_d.step()
        # Generator: through D's EP, the host tanh, then G's EP and WG.
        z = rng.normal(size=(batch, NZ))
        fake, pre = generate(g, z, arith)
        logits = arith.to_float(d.forward(arith.from_float(fake, frac=frac), arith)).reshape(-1)
        loss_g, dl = _bce_grad(logits, np.ones(batch))
        dimg = d.backward(arith.from_float(dl.reshape(-1, 1, 1, 1)), arith, need_input_grad=True)
        dpre = arith.to_float(dimg) * (1.0 - np.tanh(pre) ** 2)
        g.backward(arith.from_float(dpre), arith)
        opt_g.step()
        losses.append((loss_d, loss_g))
        if progress is not None:
            progress(it, iterations, {"loss_d": loss_d, "loss_g": loss_g})
    totals = {layer.name: dict(layer.eors_totals) for layer in g.layers + d.layers
              if layer.eors is not None}
    return {"G": g, "D": d, "losses": np.array(losses), "eors_totals": totals}


def _bce_readout(logits, target):
    """The reported loss only (read from the logits; no training state depends on it)."""
    return float(np.mean(np.logaddexp(0.0, logits) - target * logits))


def _train_dcgan_device(ar, iterations, batch, seed, lr, d_activation, progress, data, device,
                        optimizer="adam"):
    """:func:`train_dcgan` in device mode (same data and latent draws as host mode)."""
    from .device_optim import FixedAdam, FixedSGDM
    rng = np.random.default_rng(seed)
    images, _ = data if data is not None else load_digits16()
    g, d = build_dcgan(seed, d_activation, None)
    sg, sd = to_device(g), to_device(d)
    if device is not None:
        for layer in g.layers + d.layers:
            layer.device = device
    opt = FixedAdam if optimizer == "adam" else FixedSGDM
    opt_g, opt_d = opt(g, lr), opt(d, lr)
    f_img, w = DM.TANH_FRAC, ar.width
    one = 1 << DM.SIGMOID_FRAC
    label_d = np.concatenate([np.full(batch, int(quantize(0.9, DM.SIGMOID_FRAC, 32))),
                              np.zeros(batch, dtype=np.int64)])
    label_g = np.full(batch, one)
    target_d = np.concatenate([np.full(batch, 0.9), np.zeros(batch)])
    losses = []
    for it in range(iterations):
        real = quantize(images[rng.integers(0, len(images), size=batch)], f_img, w)
        zq = quantize(rng.normal(size=(batch, NZ))[:, :, None, None], Z_FRAC, w)
        # Discriminator step: real and fake in one batch, real labels smoothed to 0.9.
        sg.tag = sd.tag = "d"
        fake, _ = _generate_device(g, zq, ar)
        logits = d.forward(QT(np.concatenate([real, fake.q]), f_img), ar)
        dl, fdl = DM.logistic_loss_grad(logits.q.reshape(-1), logits.frac, label_d, width=w)
        d.backward(QT(dl.reshape(-1, 1, 1, 1), fdl), ar)
        opt_d.step()
        loss_d = _bce_readout(logits.q.reshape(-1) / 2.0 ** logits.frac, target_d)
        # Generator step: through D's EP, the tanh unit's backward, then G's EP and WG.
        sg.tag = sd.tag = "g"
        zq = quantize(rng.normal(size=(batch, NZ))[:, :, None, None], Z_FRAC, w)
        fake, _ = _generate_device(g, zq, ar)
        logits = d.forward(fake, ar)
        dl, fdl = DM.logistic_loss_grad(logits.q.reshape(-1), logits.frac, label_g, width=w)
        dimg = d.backward(QT(dl.reshape(-1, 1, 1, 1), fdl), ar, need_input_grad=True)
        y, f, _ = sg.requantize("tanh.EP", dimg.q * DM.tanh_grad_fixed(fake.q),
                                dimg.frac + DM.TANH_FRAC, w)
        g.backward(QT(y, f), ar)
        opt_g.step()
        loss_g = _bce_readout(logits.q.reshape(-1) / 2.0 ** logits.frac, np.ones(batch))
        losses.append((loss_d, loss_g))
        if progress is not None:
            progress(it, iterations, {"loss_d": loss_d, "loss_g": loss_g})
    sat = dict(sg.saturation_totals(), **{f"D/{k}": v for k, v in sd.saturation_totals().items()})
    return {"G": g, "D": d, "losses": np.array(losses), "eors_totals": {},
            "saturations": sat, "optimizers": (opt_g, opt_d)}


def build_i2i(seed=0):
    """The image-to-image generator: conv → IN → ReLU blocks, down to 8×8 and back up."""
    rng = np.random.default_rng(seed)
    return Sequential([
        ConvLayer("T1", 1, 16, 3, 1, 1, activation="identity", bias=False, rng=rng),
        InstanceNormReLU("T1.in", 16),
        ConvLayer("T2", 16, 32, 4, 2, 1, activation="identity", bias=False, rng=rng),
        InstanceNormReLU("T2.in", 32),
        ConvLayer("T3", 32, 32, 3, 1, 1, activation="identity", bias=False, rng=rng),
        InstanceNormReLU("T3.in", 32),
        ConvLayer("T4", 32, 16, 4, 2, 1, transposed=True, activation="identity", bias=False, rng=rng),
        InstanceNormReLU("T4.in", 16),
        ConvLayer("T5", 16, 1, 3, 1, 1, activation="identity", rng=rng),
    ])


def i2i_forward(net, src, ar, mode="host"):
    """Run the translator on corrupted images; returns ``(restored in [-1, 1], pre-tanh)``.

    ``mode="device"``: ``net`` trained in device mode; ``src`` is quantised with 14
    fraction bits, the scaling is the training's (frozen), the output is the tanh unit's.
    """
    _check_mode(mode, "i2i_forward")
    if mode == "device":
        with _frozen(net, ""):
            pre = net.forward(QT(quantize(src, DM.TANH_FRAC, ar.width), DM.TANH_FRAC), ar)
        return DM.tanh_fixed(pre.q, pre.frac) / 2.0 ** DM.TANH_FRAC, pre
    out = ar.to_float(net.forward(ar.from_float(src, frac=_img_frac(ar)), ar))
    return np.tanh(out), out


def train_i2i(arith, iterations=600, batch=32, seed=0, lr=1e-3, progress=None, data=None,
              mode="host"):
    """Train the translator with an L1 loss to the clean digit; returns ``net`` and ``losses``.

    ``mode``: ``"host"`` (default) or ``"device"`` (fixed point only; see the module
    docstring): the L1 gradient comes from :func:`~.device_math.l1_loss_grad`.
    """
    _check_mode(mode, "train_i2i")
    if mode == "device":
        if not arith.fixed:
            raise ValueError("train_i2i: mode='device' needs the fixed-point arithmetic")
        return _train_i2i_device(arith, iterations, batch, seed, lr, progress, data)
    rng = np.random.default_rng(seed + 1)
    images, _ = data if data is not None else load_digits16()
    net = build_i2i(seed)
    opt = Adam(net, lr, beta1=0.9)
    losses = []
    for it in range(iterations):
        clean = images[rng.integers(0, len(images), size=batch)]
        src = corrupt(clean, rng)
        out, pre = i2i_forward(net, src, arith)
        loss = float(np.mean(np.abs(out - clean)))
        dout = np.sign(out - clean) / out.size * (1.0 - out ** 2)
        net.backward(arith.from_float(dout), arith)
        opt.step()
        losses.append(loss)
        if progress is not None:
            progress(it, iterations, {"l1": loss})
    return {"net": net, "losses": np.array(losses)}


def _train_i2i_device(ar, iterations, batch, seed, lr, progress, data):
    """:func:`train_i2i` in device mode (same data draws as host mode)."""
    from .device_optim import FixedAdam
    rng = np.random.default_rng(seed + 1)
    images, _ = data if data is not None else load_digits16()
    net = build_i2i(seed)
    sc = to_device(net)
    opt = FixedAdam(net, lr, beta1=0.9)
    f_img, w = DM.TANH_FRAC, ar.width
    losses = []
    for it in range(iterations):
        clean = images[rng.integers(0, len(images), size=batch)]
        src = corrupt(clean, rng)
        cq, sq = quantize(clean, f_img, w), quantize(src, f_img, w)
        pre = net.forward(QT(sq, f_img), ar)
        out = DM.tanh_fixed(pre.q, pre.frac)
        dl, fdl = DM.l1_loss_grad(out, cq, width=w)
        net.backward(QT(dl, fdl), ar)
        opt.step()
        loss = float(np.mean(np.abs(out - cq))) / 2.0 ** f_img      # read-out only
        losses.append(loss)
        if progress is not None:
            progress(it, iterations, {"l1": loss})
    return {"net": net, "losses": np.array(losses), "saturations": sc.saturation_totals(),
            "optimizer": opt}
