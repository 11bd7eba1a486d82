"""The reference workloads: real layers of the trained GANs, saved for the RTL.

After training, one more training step runs in the fixed-point arithmetic and
every layer's operands are captured: the quantised weights, the FP input, the
output-stage parameters, the ReLU mask written in FP, and the EP error at the
layer's output (after the activation's backward, i.e. what the core's EP
multiplies). They are saved as a small compressed ``.npz`` in
``golden/workloads/`` (shipped in the package), keyed ``"<layer>.<field>"``:

======================  ==========================================================
field                   meaning
======================  ==========================================================
``op``                  ``conv`` | ``conv_transpose`` | ``instance_norm``
``stride padding kernel``  shape parameters (conv layers)
``activation``          ``identity`` | ``relu`` | ``leaky_relu``; ``slope_shift``
``w`` / ``w_frac``      weights (``[C_out, C_in, K, K]`` or ``[C_in, C_out, K, K]``)
``bias``                bias in accumulator units (``x_frac + w_frac`` fraction bits)
``x`` / ``x_frac``      the FP input of the layer
``shift``               the output stage's requantisation shift
``y_frac``              fraction bits of the output
``mask``                the ReLU mask of the output (``pre > 0``)
``dy`` / ``dy_frac``    the EP error at the output, after the activation backward
``in_mask``             the ReLU mask of the layer feeding this one, if any: the
                        exact output mask of this layer's EP
``gamma beta`` (IN)     γ, β with ``frac_gamma`` fraction bits
======================  ==========================================================

:func:`load_workload` returns ``{layer name: {field: value}}`` in network order.
"""

import os

import numpy as np

from .fixed import quantize
from .nn import ConvLayer, InstanceNormReLU
from .train import NZ, generate, i2i_forward, _bce_grad, _img_frac

__all__ = ["WORKLOAD_DIR", "capture", "dcgan_workload", "i2i_workload", "save_workload",
           "load_workload", "available_workloads"]

WORKLOAD_DIR = os.path.join(os.path.dirname(__file__), "workloads")


def capture(net):
    """Per-layer operands of a :class:`~.nn.Sequential` after one FP and backward in fixed point."""
    layers = {}
    prev_mask = None
    for layer in net.layers:
        rec = {}
        if isinstance(layer, ConvLayer):
            x, wq, mask = layer.cache
            rec.update(op="conv_transpose" if layer.transposed else "conv", stride=layer.stride,
                       padding=layer.padding, kernel=layer.k, activation=layer.activation,
                       slope_shift=layer.slope_shift, w=wq.q.astype(np.int16), w_frac=wq.frac,
                       x=x.q.astype(np.int16), x_frac=x.frac, shift=layer.record["shift"],
                       y_frac=layer.record["y_frac"], mask=mask)
            if "b" in layer.params:
                rec["bias"] = quantize(layer.params["b"], x.frac + wq.frac, 48)
        elif isinstance(layer, InstanceNormReLU):
            x, gq, _s1, _p, mask, _count = layer.cache
            rec.update(op="instance_norm", activation="relu", x=x.q.astype(np.int16), x_frac=x.frac,
                       gamma=gq.astype(np.int16),
                       beta=quantize(layer.params["beta"], layer.FRAC_GAMMA, 16).astype(np.int16),
                       frac_gamma=layer.FRAC_GAMMA, mask=mask)
        else:
            raise TypeError(f"cannot capture layer {layer!r}")
        dpre = getattr(layer, "last_dpre", None)
        if dpre is not None:
            rec.update(dy=dpre.q.astype(np.int16), dy_frac=dpre.frac)
        if prev_mask is not None:
            rec["in_mask"] = prev_mask
        prev_mask = mask if rec.get("activation") == "relu" else None
        layers[layer.name] = rec
    return layers


def dcgan_workload(g, d, arith, batch=16, seed=123):
    """One fixed-point training step of the trained DCGAN, captured.

    The generator's layers come from a generator step (FP through G and D, EP
    back through D into G, G's WG); the discriminator's from a discriminator
    step on ``batch`` real and ``batch`` generated digits.
    """
    from .data import load_digits16
    rng = np.random.default_rng(seed)
    images, _ = load_digits16()
    frac = _img_frac(arith)
    real = images[rng.integers(0, len(images), size=batch)]
    fake, _ = generate(g, rng.normal(size=(batch, NZ)), arith)
    logits = arith.to_float(d.forward(arith.from_float(np.concatenate([real, fake]), frac=frac),
                                      arith)).reshape(-1)
    _, dl = _bce_grad(logits, np.concatenate([np.full(batch, 0.9), np.zeros(batch)]))
    d.backward(arith.from_float(dl.reshape(-1, 1, 1, 1)), arith, need_input_grad=True)
    d_layers = capture(d)
    fake, pre = generate(g, rng.normal(size=(batch, NZ)), arith)
    logits = arith.to_float(d.forward(arith.from_float(fake, frac=frac), arith)).reshape(-1)
    _, dl = _bce_grad(logits, np.ones(batch))
    dimg = d.backward(arith.from_float(dl.reshape(-1, 1, 1, 1)), arith, need_input_grad=True)
    g.backward(arith.from_float(arith.to_float(dimg) * (1.0 - np.tanh(pre) ** 2)), arith)
    return {**capture(g), **d_layers}


def i2i_workload(net, arith, batch=16, seed=123):
    """One fixed-point training step of the trained image-to-image generator, captured."""
    from .data import load_digits16, corrupt
    rng = np.random.default_rng(seed)
    images, _ = load_digits16()
    clean = images[rng.integers(0, len(images), size=batch)]
    out, _ = i2i_forward(net, corrupt(clean, rng), arith)
    dout = np.sign(out - clean) / out.size * (1.0 - out ** 2)
    net.backward(arith.from_float(dout), arith, need_input_grad=True)
    return capture(net)


def save_workload(path, layers, meta=None):
    """Write ``{layer: {field: value}}`` (and ``meta``) to a compressed ``.npz``."""
    flat = {"_layers": np.array(list(layers))}
    for name, rec in layers.items():
        for field, value in rec.items():
            flat[f"{name}.{field}"] = np.asarray(value)
    for key, value in (meta or {}).items():
        flat[f"_meta.{key}"] = np.asarray(value)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **flat)


def available_workloads():
    """Names of the shipped workloads (``dcgan``, ``i2i``)."""
    if not os.path.isdir(WORKLOAD_DIR):
        return []
    return sorted(f[:-4] for f in os.listdir(WORKLOAD_DIR) if f.endswith(".npz"))


def load_workload(name_or_path):
    """Load a workload by name (``"dcgan"``, ``"i2i"``) or path: ``(layers, meta)``."""
    path = name_or_path
    if not os.path.exists(path):
        path = os.path.join(WORKLOAD_DIR, f"{name_or_path}.npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no workload {name_or_path!r}; shipped: {available_workloads()}")
    with np.load(path) as z:
        names = [str(n) for n in z["_layers"]]
        layers = {n: {} for n in names}
        meta = {}
        for key in z.files:
            if key == "_layers":
                continue
            head, field = key.rsplit(".", 1)
            value = z[key]
            value = value.item() if value.ndim == 0 else value
            if head == "_meta":
                meta[field] = value
            else:
                layers[head][field] = value
    return layers, meta
