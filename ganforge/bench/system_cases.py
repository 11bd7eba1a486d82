"""Cuts of the trained GANs' layers on a small system, for the tests and the benches that
run them (:func:`ganforge.testbench.system_cases.run_layers`).
"""

import numpy as np

from ganforge.config import core_from_config, engine_from_config, get_preset
from ganforge.golden import reference_result
from ganforge.rtl.top.system import System
from ganforge.testbench.rolin_ref import i2i_layers

__all__ = ["tiny_system", "t3_cut", "dcgan_case", "producer_consumer"]


def tiny_system(cores):
    cfg = get_preset("tiny")
    return System(cores=cores, core=core_from_config(cfg), engine=engine_from_config(cfg),
                  max_positions=cfg.output_buffer_depth)


def t3_cut(samples, cin, cout, hw):
    """A cut of the image-to-image generator's T3 (conv 3×3, stride 1): its input after IN
    and ReLU, as trained."""
    rec = i2i_layers()["T3"]
    x = rec["x"][:samples, :cin, :hw, :hw].astype(np.int64)
    w = rec["w"][:cout, :cin].astype(np.int64)
    params = dict(stride=int(rec["stride"]), padding=int(rec["padding"]), shift=int(rec["shift"]),
                  activation="relu", slope_shift=int(rec["slope_shift"]))
    return {"x": x, "w": w}, params


def dcgan_case(layer, phase, *, samples, cut):
    """A cut of a trained DCGAN layer's FP or EP (the bench's ``layer_ops``): the layer's
    input channels cut to ``cut[0]`` and its output channels to ``cut[1]``."""
    from ganforge.bench.core import layer_ops
    from ganforge.golden.workloads import load_workload
    rec = dict(load_workload("dcgan")[0][layer])
    ci, co = cut
    tconv = rec["op"] == "conv_transpose"
    rec["w"] = rec["w"][:ci, :co] if tconv else rec["w"][:co, :ci]
    rec["x"] = rec["x"][:, :ci]
    for k in ("dy", "mask"):
        rec[k] = rec[k][:, :co]
    if "in_mask" in rec:
        rec["in_mask"] = rec["in_mask"][:, :ci]
    if "bias" in rec:
        rec["bias"] = rec["bias"][:co]
    for ph, op, tensors, params in layer_ops(rec, samples):
        if ph == phase:
            return op, tensors, params
    raise ValueError(f"{layer} has no {phase}")


def producer_consumer():
    """Three layers and two branches: core 0 runs a transposed convolution (a cut of G2's
    FP), raises event 0 once its tiles are in memory, and goes on with a convolution (a cut
    of D2's FP); core 1 waits for the event and runs a convolution on core 0's first
    result."""
    layers = []
    for layer, cut in (("G2", (8, 4)), ("D2", (8, 4))):
        op, tensors, params = dcgan_case(layer, "FP", samples=2, cut=cut)
        layers.append(dict(op=op, tensors=tensors, params=params, group=[0],
                           want=reference_result(op, tensors, **params)[0]))
    d2 = layers[1]
    tensors = {"x": layers[0]["want"], "w": d2["tensors"]["w"][:, :4]}
    layers.append(dict(d2, tensors=tensors, group=[1], input_of=0,
                       want=reference_result(d2["op"], tensors, **d2["params"])[0]))
    branches = [[0, ("wait_idle", [0], True), ("signal", 0), 1], [("wait_event", 0, 1), 2]]
    return layers, branches
