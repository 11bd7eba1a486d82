"""Benchmark the sparse core on Verilator: ``make bench-core`` (``scripts/bench_core.py``).

Every number here is a cycle count from RTL simulation of the generated
Verilog, driven by the same firmware driver as ``ganforge sim-op``, with the
streams unthrottled. Beside each measurement is its physical limit:
``ideal = effective MACs / lanes`` (every lane busy on a useful MAC every
cycle). ``speedup`` is always the same core with every kind of skipping
switched off (``--dense``), on the same layer, in the same run.

Sections (keys of ``build/bench/core.json``; see docs/bench-core.md):

* ``dense``: the reference layers of the trained DCGAN (FP and EP of every
  layer; the first ``--samples`` samples of the saved batch) with skipping
  off. MACs per cycle over all cycles (loads included) and over busy cycles,
  against the lane count.
* ``sparse_sweep``: a 64-channel 16×16 3×3 conv, 64 output channels, input
  sparsity × output-mask sparsity in {0, 50, 90} %; speedup over dense
  beside the ideal ``dense MACs / effective MACs``.
* ``tconv``: a stride-2 4×4 transposed conv. MACs issued against the
  zero-free count, and cycles against the same core running the equivalent
  convolution on zero-inserted input.
* ``real``: the reference layers' real FP and EP, sparse against dense,
  beside the ideal.

Every simulation of the bench is independent of the others: they all go
through one :class:`~ganforge.executor.Executor` and are merged in a fixed
order, so the numbers do not depend on where or in what order they ran.
"""

import json
import os
import time

import numpy as np

from ganforge import golden as G
from ganforge.bench import BenchFailure
from ganforge.golden.workloads import load_workload

__all__ = ["run", "layer_ops", "print_tables", "plot"]

_KEYS = ("cycles", "macs_issued", "cycles_busy", "cycles_stalled", "cycles_idle", "dense_macs",
         "output_mask_skipped", "input_zero_skipped", "zero_insertion_skipped",
         "effective_macs", "ideal_cycles")


def simulate_case(case):
    """One op on the simulated core, unthrottled (an executor's item): ``case`` is
    ``(op, tensors, params, config, dense, sim, build_root)``; returns its counters and
    cycles. Raises :class:`~ganforge.bench.BenchFailure` if the result is not the golden one."""
    from ganforge.simop import simulate_op
    op, tensors, params, config, dense, sim, build_root = case
    out = simulate_op(op, tensors, params, config, sim=sim, dense=dense, build_root=build_root)
    if not out["matches_golden"]:
        raise BenchFailure(f"{op} ({'dense' if dense else 'sparse'}) does not match the golden model")
    return {k: (float(out[k]) if k == "ideal_cycles" else int(out[k])) for k in _KEYS}


def layer_ops(rec, samples):
    """FP and EP ops of a captured layer (first ``samples`` samples):
    ``[(phase, op, tensors, params)]``."""
    x = rec["x"][:samples].astype(np.int64)
    w = rec["w"].astype(np.int64)
    s, p = int(rec["stride"]), int(rec["padding"])
    tconv = rec["op"] == "conv_transpose"
    fp_params = dict(stride=s, padding=p, shift=int(rec["shift"]), activation=str(rec["activation"]),
                     slope_shift=int(rec["slope_shift"]))
    if "bias" in rec:
        fp_params["bias"] = rec["bias"].astype(np.int64)
    ops = [("FP", "conv_transpose" if tconv else "conv", {"x": x, "w": w}, fp_params)]
    if "dy" in rec and "in_mask" in rec:
        dy = rec["dy"][:samples].astype(np.int64)
        ep_params = dict(stride=s, padding=p, shift=8, activation="identity", slope_shift=2,
                         out_mask=rec["in_mask"][:samples])
        if tconv:
            ops.append(("EP", "conv_transpose_input_grad", {"dy": dy, "w": w}, ep_params))
        else:
            ep_params["input_hw"] = tuple(x.shape[2:])
            ops.append(("EP", "conv_input_grad", {"dy": dy, "w": w}, ep_params))
    return ops


class _Plan:
    """The bench's simulations, each named, in the order they are merged."""

    def __init__(self, config, sim, build_root):
        self.config, self.sim, self.build_root = config, sim, build_root
        self.cases, self.names = [], []

    def add(self, name, op, tensors, params, dense):
        self.cases.append((op, tensors, params, self.config, dense, self.sim, self.build_root))
        self.names.append(name)
        return len(self.cases) - 1


def _plan_reference(plan, samples):
    layers, _ = load_workload("dcgan")
    rows = []
    for name, rec in layers.items():
        for phase, op, tensors, params in layer_ops(rec, samples):
            d = plan.add(f"{name} {phase} dense", op, tensors, params, True)
            s = plan.add(f"{name} {phase} sparse", op, tensors, params, False)
            rows.append((name, phase, op, d, s))
    return rows


def _reference_rows(rows, done, lanes):
    dense_rows, real_rows = [], []
    for name, phase, op, di, si in rows:
        d, sp = done[di], done[si]
        dense_rows.append({"layer": name, "phase": phase, "op": op, **d,
                           "macs_per_cycle": d["macs_issued"] / d["cycles"],
                           "macs_per_busy_cycle": d["macs_issued"] / d["cycles_busy"],
                           "efficiency": d["macs_issued"] / d["cycles"] / lanes,
                           "busy_efficiency": d["macs_issued"] / d["cycles_busy"] / lanes})
        real_rows.append({"layer": name, "phase": phase, "op": op,
                          "dense_cycles": d["cycles"], "sparse_cycles": sp["cycles"],
                          "ideal_cycles": sp["ideal_cycles"],
                          "speedup": d["cycles"] / sp["cycles"],
                          "ideal_speedup": sp["dense_macs"] / max(sp["effective_macs"], 1),
                          "macs_issued": sp["macs_issued"], "effective_macs": sp["effective_macs"],
                          "dense_macs": sp["dense_macs"]})
    return dense_rows, real_rows


def _plan_sweep(plan, levels, seed=0):
    """A 64-channel 16x16 3x3 conv at every input x output sparsity of ``levels``; the dense
    baseline is the first point with skipping off."""
    rng = np.random.default_rng(seed)
    c, hw, k = 64, 16, 3
    w = rng.integers(-2000, 2000, (c, c, k, k))
    base = rng.integers(-2000, 2000, (1, c, hw, hw))
    base[base == 0] = 1
    points, dense = [], None
    for si in levels:
        x = base.copy()
        x[rng.random(x.shape) < si] = 0
        for so in levels:
            mask = rng.random((1, c, hw, hw)) >= so
            params = dict(stride=1, padding=1, shift=12, activation="relu", slope_shift=2, out_mask=mask)
            if dense is None:
                dense = plan.add("sweep dense baseline", "conv", {"x": x, "w": w}, params, True)
            points.append((si, so, plan.add(f"sweep input {si:.0%} zero, output {so:.0%} masked",
                                            "conv", {"x": x, "w": w}, params, False)))
    return dense, points


def _sweep_rows(plan, done):
    dense, points = plan
    d = done[dense]
    return [{"input_sparsity": si, "output_sparsity": so, "dense_cycles": d["cycles"],
             "sparse_cycles": done[i]["cycles"], "ideal_cycles": done[i]["ideal_cycles"],
             "speedup": d["cycles"] / done[i]["cycles"],
             "ideal_speedup": done[i]["dense_macs"] / max(done[i]["effective_macs"], 1),
             "macs_issued": done[i]["macs_issued"], "effective_macs": done[i]["effective_macs"]}
            for si, so, i in points]


def _plan_tconv(plan, seed=1):
    """Zero-free stride-2 4x4 transposed conv against the same core on zero-inserted input."""
    rng = np.random.default_rng(seed)
    n, cin, cout, hw, k, s, p = 1, 32, 32, 8, 4, 2, 1
    x = rng.integers(-2000, 2000, (n, cin, hw, hw))
    w = rng.integers(-2000, 2000, (cin, cout, k, k))
    params = dict(stride=s, padding=p, shift=12, activation="identity", slope_shift=2)
    zf = plan.add("transposed conv, zero-free", "conv_transpose", {"x": x, "w": w}, params, True)
    # The same op as a stride-1 conv on zero-inserted input, padded by K-1-p, flipped kernel.
    xd = np.zeros((n, cin, (hw - 1) * s + 1, (hw - 1) * s + 1), dtype=np.int64)
    xd[:, :, ::s, ::s] = x
    xd = np.pad(xd, ((0, 0), (0, 0), (k - 1 - p,) * 2, (k - 1 - p,) * 2))
    wc = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    zi = plan.add("transposed conv on zero-inserted input", "conv", {"x": xd, "w": wc},
                  dict(params, stride=1, padding=0), True)
    return zf, zi, G.conv_transpose2d_work(x, w.shape, s, p)


def _tconv_row(plan, done):
    zfi, zii, work = plan
    zf, zi = done[zfi], done[zii]
    return {"zero_free_cycles": zf["cycles"], "zero_insert_cycles": zi["cycles"],
            "speedup": zi["cycles"] / zf["cycles"], "ideal_speedup": work["zero_insert"] / work["dense"],
            "macs_issued": zf["macs_issued"], "zero_free_macs": work["dense"],
            "zero_insert_macs": zi["macs_issued"], "golden_zero_insert_macs": work["zero_insert"],
            "zero_insertion_skipped": zf["zero_insertion_skipped"],
            "golden_zero_insertion_skipped": work["zero_insertion_skipped"]}


def run(config_name, executor, *, sim="verilator", samples=16, quick=False, out="build/bench",
        build_root="build/sim"):
    """Run the bench for the preset ``config_name`` through ``executor``; write
    ``OUT/core.json`` and ``OUT/core.png``; return the result (keys: docs/bench-core.md).

    ``samples``: samples of each reference layer. ``quick``: the sweep at {0, 90} % only.
    """
    from ganforge.config import get_preset
    config = get_preset(config_name)
    t0 = time.time()
    plan = _Plan(config, sim, build_root)
    ref = _plan_reference(plan, samples)
    sweep = _plan_sweep(plan, [0.0, 0.9] if quick else [0.0, 0.5, 0.9])
    tconv = _plan_tconv(plan)
    done = executor.map(simulate_case, plan.cases, names=plan.names)
    lanes = config.lanes_per_core
    res = {"config": config_name, "lanes": lanes, "samples": samples}
    res["dense"], res["real"] = _reference_rows(ref, done, lanes)
    res["sparse_sweep"] = _sweep_rows(sweep, done)
    res["tconv"] = _tconv_row(tconv, done)
    res["seconds"] = time.time() - t0
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "core.json"), "w") as f:
        json.dump(res, f, indent=1)
    plot(res, os.path.join(out, "core.png"))
    return res


def print_tables(res, lanes):
    print(f"\nDense (skipping off) on the reference DCGAN layers, {lanes} lanes: MACs per cycle")
    print(f"{'layer':6s} {'phase':5s} {'MACs':>10s} {'cycles':>9s} {'MAC/cyc':>8s} {'eff':>6s} {'busy eff':>9s}")
    for r in res["dense"]:
        print(f"{r['layer']:6s} {r['phase']:5s} {r['macs_issued']:10d} {r['cycles']:9d} "
              f"{r['macs_per_cycle']:8.2f} {r['efficiency']:6.1%} {r['busy_efficiency']:9.1%}")
    print("\nDual sparsity: 64-ch 16x16 3x3 conv, speedup over the dense core (ideal beside)")
    levels = sorted({r["output_sparsity"] for r in res["sparse_sweep"]})
    print("in \\ out " + "".join(f"{lv:>16.0%}" for lv in levels))
    for si in sorted({r["input_sparsity"] for r in res["sparse_sweep"]}):
        cells = [r for r in res["sparse_sweep"] if r["input_sparsity"] == si]
        print(f"{si:8.0%} " + "".join(f"{r['speedup']:7.2f}x ({r['ideal_speedup']:5.1f})" for r in cells))
    t = res["tconv"]
    print(f"\nTransposed conv s2 k4 (32->32, 8x8->16x16): MACs issued {t['macs_issued']} = zero-free "
          f"{t['zero_free_macs']}: {t['macs_issued'] == t['zero_free_macs']}; cycles {t['zero_free_cycles']} "
          f"vs {t['zero_insert_cycles']} on zero-inserted input: {t['speedup']:.2f}x "
          f"(ideal {t['ideal_speedup']:.2f}x); zero-insertion MACs skipped (core counter) "
          f"{t['zero_insertion_skipped']} = golden {t['golden_zero_insertion_skipped']}: "
          f"{t['zero_insertion_skipped'] == t['golden_zero_insertion_skipped']}")
    print("\nReal layers (trained DCGAN, one training step): sparse vs dense")
    print(f"{'layer':6s} {'phase':5s} {'dense cyc':>10s} {'sparse cyc':>11s} {'ideal cyc':>10s} "
          f"{'speedup':>8s} {'ideal':>7s}")
    for r in res["real"]:
        print(f"{r['layer']:6s} {r['phase']:5s} {r['dense_cycles']:10d} {r['sparse_cycles']:11d} "
              f"{r['ideal_cycles']:10.0f} {r['speedup']:7.2f}x {r['ideal_speedup']:6.2f}x")


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sw = res["sparse_sweep"]
    labels = [f"{r['input_sparsity']:.0%}/{r['output_sparsity']:.0%}" for r in sw]
    xs = np.arange(len(sw))
    axes[0].bar(xs - 0.2, [r["speedup"] for r in sw], 0.4, label="measured")
    axes[0].bar(xs + 0.2, [r["ideal_speedup"] for r in sw], 0.4, label="ideal")
    axes[0].set_xticks(xs, labels, rotation=45)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("speedup over dense")
    axes[0].set_title("64-ch 16x16 3x3: input / output sparsity")
    axes[0].legend()
    real = res["real"]
    xs = np.arange(len(real))
    axes[1].bar(xs - 0.2, [r["speedup"] for r in real], 0.4, label="measured")
    axes[1].bar(xs + 0.2, [r["ideal_speedup"] for r in real], 0.4, label="ideal")
    axes[1].set_xticks(xs, [f"{r['layer']} {r['phase']}" for r in real], rotation=45)
    axes[1].set_title("real DCGAN layers")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
