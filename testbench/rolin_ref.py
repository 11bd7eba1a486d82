"""Golden reference of the reference image-to-image generator's IN blocks.

For an IN layer ``Tk.in`` of the saved ``i2i`` workload, :func:`in_block`
recomputes with the golden model everything the ROLIN units see and produce,
on the whole saved batch (fraction bits are chosen batch-wide by the host,
as in training):

* FP: the IN input ``x`` (the producing conv's output), ``S1, S2``, the
  parameters, the normalised + ReLU output ``y`` and its mask;
* EP: ``dy`` at the IN+ReLU output (the consuming conv's EP, requantised the
  way training does it), ``dpre``, ``x̂``, ``T1, T2``, ``frac_dx``, the
  coefficients and ``dx``.

:func:`check_against_workload` asserts that these reproduce the stored
workload: ``y`` is the consuming conv's saved input and ``dx`` the producing
conv's saved error.
"""

import numpy as np

from ganforge import golden as G
from ganforge.golden import instnorm as IN
from ganforge.golden.nn import Arith
from ganforge.golden.workloads import load_workload

__all__ = ["WIDTH", "FRAC_XHAT", "SCALE_FRAC", "COEF_FRAC", "FRAC_Y", "EPS", "in_block",
           "conv_fp", "conv_ep", "check_against_workload", "i2i_layers", "IN_BLOCKS"]

WIDTH = 16
FRAC_Y = WIDTH - 5        # nn.InstanceNormReLU: the normalised output's fraction bits
FRAC_XHAT = WIDTH - 6
SCALE_FRAC = 16
COEF_FRAC = 16
EPS = 1e-5
#: (producing conv, IN layer, consuming conv) of the i2i generator.
IN_BLOCKS = [("T1", "T1.in", "T2"), ("T2", "T2.in", "T3"), ("T3", "T3.in", "T4"),
             ("T4", "T4.in", "T5")]

_CACHE = {}


def i2i_layers():
    if "i2i" not in _CACHE:
        _CACHE["i2i"] = load_workload("i2i")[0]
    return _CACHE["i2i"]


def conv_fp(rec, x):
    """FP of a saved conv layer on ``x`` (the output stage as training ran it)."""
    w = rec["w"].astype(np.int64)
    s, p = int(rec["stride"]), int(rec["padding"])
    acc = G.conv_transpose2d(x, w, s, p) if rec["op"] == "conv_transpose" else G.conv2d(x, w, s, p)
    bias = rec.get("bias")
    y, _ = G.output_stage(acc, int(rec["shift"]), WIDTH, str(rec["activation"]),
                          int(rec["slope_shift"]), None if bias is None else bias.astype(np.int64))
    return y


def conv_ep(rec, dy, in_hw):
    """EP of a saved conv layer: ``(dx, frac)``, requantised with the finest shift that fits."""
    w = rec["w"].astype(np.int64)
    s, p = int(rec["stride"]), int(rec["padding"])
    if rec["op"] == "conv_transpose":
        acc = G.conv_transpose2d_input_grad(dy, w, s, p)
    else:
        acc = G.conv2d_input_grad(dy, w, s, p, in_hw)
    q = Arith(fixed=True, width=WIDTH).requantize_auto(acc, int(rec["dy_frac"]) + int(rec["w_frac"]))
    return q.q, q.frac


def in_block(name):
    """Everything about IN layer ``name`` (e.g. ``"T2.in"``) as a dict (see the module doc)."""
    if name in _CACHE:
        return _CACHE[name]
    layers = i2i_layers()
    prod, _, cons = next(b for b in IN_BLOCKS if b[1] == name)
    rec = layers[name]
    x = rec["x"].astype(np.int64)
    fx, fg = int(rec["x_frac"]), int(rec["frac_gamma"])
    gamma, beta = rec["gamma"].astype(np.int64), rec["beta"].astype(np.int64)
    count = x.shape[2] * x.shape[3]
    eps_q = IN.eps_to_fixed(EPS, fx)
    s1, s2 = IN.in_stats(x)
    p = IN.in_params(s1, s2, count, gamma, beta, frac_x=fx, frac_y=FRAC_Y, frac_gamma=fg,
                     eps_q=eps_q, scale_frac=SCALE_FRAC)
    y, mask = IN.in_apply(x, p, WIDTH, "relu")
    # EP: the consuming conv's error propagation gives dy at the IN+ReLU output.
    dy_in, fdy = conv_ep(layers[cons], layers[cons]["dy"].astype(np.int64), x.shape[2:])
    dpre = np.where(mask, dy_in, 0)
    xhat = IN.in_xhat(x, s1, count, p.rs, p.k, FRAC_XHAT, WIDTH)
    t1, t2 = IN.in_backward_stats(dpre, xhat)
    frac_dx = IN.in_backward_frac_dx(dpre, xhat, t1, t2, count, gamma, p.rs, p.k, frac_x=fx,
                                     frac_dy=fdy, frac_gamma=fg, frac_xhat=FRAC_XHAT, width=WIDTH,
                                     coef_frac=COEF_FRAC)
    c = IN.in_backward_params(t1, t2, count, gamma, p.rs, p.k, frac_x=fx, frac_dy=fdy,
                              frac_dx=frac_dx, frac_gamma=fg, frac_xhat=FRAC_XHAT,
                              coef_frac=COEF_FRAC)
    dx = IN.in_backward_apply(dpre, xhat, c, WIDTH)
    out = dict(name=name, producer=prod, consumer=cons, x=x, fx=fx, fg=fg, gamma=gamma, beta=beta,
               count=count, eps_q=eps_q, s1=s1, s2=s2, p=p, y=y, mask=mask, dy_in=dy_in, fdy=fdy,
               dpre=dpre, xhat=xhat, t1=t1, t2=t2, frac_dx=frac_dx, c=c, dx=dx)
    _CACHE[name] = out
    return out


def check_against_workload(name):
    """Assert the block's golden recomputation reproduces the saved workload exactly."""
    layers = i2i_layers()
    b = in_block(name)
    rec = layers[name]
    assert np.array_equal(b["mask"], rec["mask"])
    assert np.array_equal(b["y"], layers[b["consumer"]]["x"])
    assert np.array_equal(b["dpre"], rec["dy"]) and b["fdy"] == int(rec["dy_frac"])
    assert np.array_equal(b["dx"], layers[b["producer"]]["dy"])
    assert b["frac_dx"] == int(layers[b["producer"]]["dy_frac"])
