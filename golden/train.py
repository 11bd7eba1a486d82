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

``train_dcgan(..., eors=EorsKnobs(...))`` trains with EORS on: every ReLU
layer's fixed-point FP (G1, G2, and D1, D2 when their activation is ReLU)
skips the outputs the speculation predicts ≤ 0, in the forward output and in
the mask its EP uses (:mod:`.eors`). ``eors=None`` (the default) is the exact
path, unchanged.
"""

import numpy as np

from .data import load_digits16, corrupt
from .nn import Adam, ConvLayer, InstanceNormReLU, Sequential

__all__ = ["build_dcgan", "train_dcgan", "build_i2i", "train_i2i", "NZ", "IMG_FRAC"]

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


def generate(g, z, ar):
    """Generator FP on latent ``z`` ``[N, NZ]``; returns ``(images in [-1, 1], pre-tanh output)``."""
    zt = ar.from_float(z[:, :, None, None], frac=ar.width - 4)
    out = ar.to_float(g.forward(zt, ar))
    return np.tanh(out), out


def _bce_grad(logits, target):
    """Mean binary cross-entropy on logits and its gradient."""
    p = 1.0 / (1.0 + np.exp(-logits))
    loss = np.mean(np.logaddexp(0.0, logits) - target * logits)
    return loss, (p - target) / logits.size


def train_dcgan(arith, iterations=1500, batch=64, seed=0, lr=2e-4, d_activation="relu",
                progress=None, data=None, eors=None, device=None):
    """Train the DCGAN; returns a dict with ``G``, ``D``, ``losses`` and ``eors_totals``.

    ``device``: None, or what runs every layer's FP, EP and WG (fixed point only; see
    :attr:`ConvLayer.device <.nn.ConvLayer>`): the accelerator, in the system's runtime.

    ``progress``: optional callable ``progress(i, iterations, info)`` for a progress bar.
    ``eors``: None, or :class:`~.eors.EorsKnobs` to train with EORS on (fixed point
    only); ``eors_totals`` is then ``{layer: eors_counts summed over every FP}``
    (empty without EORS).
    """
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


def i2i_forward(net, src, ar):
    """Run the translator on corrupted images; returns ``(restored in [-1, 1], pre-tanh)``."""
    out = ar.to_float(net.forward(ar.from_float(src, frac=_img_frac(ar)), ar))
    return np.tanh(out), out


def train_i2i(arith, iterations=600, batch=32, seed=0, lr=1e-3, progress=None, data=None):
    """Train the translator with an L1 loss to the clean digit; returns ``net`` and ``losses``."""
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
